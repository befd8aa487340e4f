from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from core.access import has_role
from core.models import Membership, Site, User
from core.roles import Role
from core.services import (
    MembershipError,
    membership_grant,
    membership_revoke,
    separation_of_duties_check,
    user_password_set_by_admin,
)


class TemporaryPasswordForm(AdminPasswordChangeForm):
    """The admin's "set password" form: the password is temporary and a reason is required."""

    reason = forms.CharField(label=_("Reason"), max_length=500,
                             help_text=_("Recorded in the audit trail. The user must choose a new "
                                         "password at the next sign-in."))

    def __init__(self, user, *args, by=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.by = by
        if "usable_password" in self.fields:
            # Django's own help text here is partly outside its catalogue: say it translatably.
            self.fields["usable_password"].help_text = _(
                "Whether the user will be able to sign in with a password. If disabled, the current password "
                "of this user is lost.")

    def save(self, commit=True):
        return user_password_set_by_admin(by=self.by, user=self.user, password=self.cleaned_data["password1"],
                                          reason=self.cleaned_data["reason"])


class MembershipAdminForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason"), max_length=500, help_text=_("Recorded in the audit trail."))

    class Meta:
        model = Membership
        fields = ["user", "role", "site", "active"]


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
        (_("Person"), {"fields": ("first_name", "last_name", "email", "preferred_language")}),
        (_("Status"), {"fields": ("is_active", "last_login", "date_joined")}),
    )
    readonly_fields = ["last_login", "date_joined"]
    change_password_form = TemporaryPasswordForm

    def user_change_password(self, request, id, form_url=""):
        # Never a silent password: the form above sets a temporary one, audited with a reason.
        user = self.get_object(request, id)
        if user is not None and user.pk == request.user.pk:
            messages.error(request, _("Change your own password on the password change page."))
            raise PermissionDenied
        original = self.change_password_form

        def bound(*args, **kwargs):
            return original(*args, by=request.user, **kwargs)

        self.change_password_form = bound
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            self.change_password_form = original

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # created with a password the administrator chose: temporary, audited
            from audit.models import AuditAction
            from audit.services import audit_event_record

            if hasattr(obj, "must_change_password"):
                obj.must_change_password = True
                obj.save(update_fields=["must_change_password"])
            audit_event_record(action=AuditAction.PASSWORD_SET, actor=request.user, obj=obj,
                               summary=f"User {obj.username} created by {request.user.username} with a "
                                       "temporary password (change forced at next sign-in)",
                               detail={"event": "password_set", "user": obj.username, "by": request.user.username})


@admin.register(Site)
class SiteAdmin(AdministratorOnly):
    list_display = ["code", "name", "time_zone", "enrollment_target", "active"]


@admin.register(Membership)
class MembershipAdmin(AdministratorOnly):
    list_display = ["user", "role", "site", "active", "granted_at"]
    list_filter = ["role", "site", "active"]
    list_select_related = ["user", "site"]
    form = MembershipAdminForm

    def get_readonly_fields(self, request, obj=None):
        # Who, which role and where are fixed once granted: a change is a revoke + a new grant,
        # each through the services (separation of duties, reason, audit).
        return ["user", "role", "site"] if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)
        by = request.user

        class Checked(form_class):
            def clean(self):
                data = super().clean()
                user = data.get("user") or (self.instance.user if self.instance.pk else None)
                role = data.get("role") or self.instance.role
                if user is not None and role and (not self.instance.pk or data.get("active")):
                    try:
                        separation_of_duties_check(by=by, user=user, role=role)
                    except MembershipError as exc:
                        raise ValidationError(str(exc)) from exc
                return data

        return Checked

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data.get("reason", "")
        if change:
            if not obj.active:
                membership_revoke(membership=obj, by=request.user, reason=reason)
            else:
                saved = membership_grant(user=obj.user, role=obj.role, site=obj.site, by=request.user,
                                         reason=reason)
                obj.pk = saved.pk
        else:
            saved = membership_grant(user=obj.user, role=obj.role, site=obj.site, by=request.user,
                                     reason=reason)
            obj.pk = saved.pk
