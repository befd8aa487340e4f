from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class EdcAdminSite(admin.AdminSite):
    site_header = "ANGEL-RESCUE EDC administration"
    site_title = "ANGEL-RESCUE EDC"

    def has_permission(self, request):
        # Administrators only (by membership), and only after two-factor verification.
        from core.access import has_role
        from core.roles import Role

        user = request.user
        return bool(
            user.is_active and user.is_authenticated and has_role(user, Role.ADMIN)
            and user.is_verified()
        )


class EdcAdminConfig(AdminConfig):
    default_site = "core.admin_site.EdcAdminSite"
