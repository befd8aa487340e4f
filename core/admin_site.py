from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# Texts of Django's admin templates that Django's own zh_Hans catalogue (Django 5.2) lacks;
# listed here so that the project's catalogue (LOCALE_PATHS, looked up first) carries them.
DJANGO_ADMIN_TEXTS = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
)


class EdcAdminSite(admin.AdminSite):
    site_header = _("ANGEL-RESCUE EDC administration")
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
