from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from core.access import has_role
from core.models import Membership, Site, User
from core.roles import Role
from core.services import membership_grant


class AdministratorOnly(admin.ModelAdmin):
    """Administration data only: users, sites and memberships. Clinical models are never
    registered here, so the admin site can neither show nor edit clinical data or the
    allocation list. Nothing is deleted from here."""

    def _is_admin(self, request):
        return has_role(request.user, Role.ADMIN)

    def has_module_permission(self, request):
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_add_permission(self, request):
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(AdministratorOnly, BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "email", "is_active", "last_login"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email", "preferred_language")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    readonly_fields = ["last_login", "date_joined"]


@admin.register(Site)
class SiteAdmin(AdministratorOnly):
    list_display = ["code", "name", "time_zone", "enrollment_target", "active"]


@admin.register(Membership)
class MembershipAdmin(AdministratorOnly):
    list_display = ["user", "role", "site", "active", "granted_at"]
    list_filter = ["role", "site", "active"]
    list_select_related = ["user", "site"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            from audit.models import AuditAction
            from audit.services import audit_event_record

            audit_event_record(action=AuditAction.MEMBERSHIP_CHANGED, actor=request.user,
                               site=obj.site, obj=obj, summary=f"Membership edited: {obj}")
        else:
            saved = membership_grant(user=obj.user, role=obj.role, site=obj.site, by=request.user)
            obj.pk = saved.pk
