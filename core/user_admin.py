"""Site user administration for administrators: invite, deactivate, reset (forced change at
the next sign-in), memberships and history. Every change goes through core.services and is
audited with its reason. The Django admin stays for technical use only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core import access, services
from core.models import Membership, Site, User
from core.roles import Action, Role


def _require_admin(user) -> None:
    access.require(user, Action.ADMINISTER)


class InviteForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    first_name = forms.CharField(label=gettext_lazy("First name"), max_length=150)
    last_name = forms.CharField(label=gettext_lazy("Last name"), max_length=150)
    email = forms.EmailField(label=gettext_lazy("E-mail"))
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    site = forms.ModelChoiceField(label=gettext_lazy("Site"), queryset=Site.objects.filter(active=True),
                                  required=False, empty_label=gettext_lazy("— none (all-site roles only) —"),
                                  help_text=gettext_lazy("A site role (coordinator, investigator, assessor) must "
                                                         "have a site; monitors may have one."))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500,
                             help_text=gettext_lazy("Kept in the audit trail, e.g. the delegation log entry."))


class MembershipForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    site = forms.ModelChoiceField(label=gettext_lazy("Site"), queryset=Site.objects.filter(active=True),
                                  required=False, empty_label=gettext_lazy("— none (all-site roles only) —"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


class ReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


@login_required
def user_list(request):
    _require_admin(request.user)
    q = (request.GET.get("q") or "").strip()
    users = User.objects.prefetch_related("memberships__site").order_by("username")
    if q:
        users = users.filter(Q(username__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q)
                             | Q(email__icontains=q))
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    return render(request, "core/users/list.html", {"page": page, "q": q})


def _apply_errors(form, exc: services.UserAdminError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))


@login_required
def user_invite_view(request):
    _require_admin(request.user)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, password = services.user_invite(
                by=request.user, username=data["username"], first_name=data["first_name"],
                last_name=data["last_name"], email=data["email"], role=data["role"], site=data["site"],
                reason=data["reason"])
        except services.UserAdminError as exc:
            _apply_errors(form, exc)
        else:
            return render(request, "core/users/password_once.html", {"target": user, "password": password,
                                                                     "invited": True})
    return render(request, "core/users/invite.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def _history(target: User):
    from audit.models import AuditEvent

    membership_ids = [str(pk) for pk in target.memberships.values_list("pk", flat=True)]
    return (AuditEvent.objects.filter(
        Q(object_type="core.User", object_id=str(target.pk))
        | Q(object_type="core.Membership", object_id__in=membership_ids)
        | Q(actor=target, action__in=["login", "login_failed", "logout", "lockout", "unlock", "2fa_enrolled"]))
        .select_related("actor").order_by("-at", "-id")[:100])


@login_required
def user_detail(request, user_id: int):
    _require_admin(request.user)
    target = get_object_or_404(User, pk=user_id)
    return render(request, "core/users/detail.html", {
        "target": target,
        "memberships": target.memberships.select_related("site").order_by("-active", "role"),
        "history": _history(target),
        "membership_form": MembershipForm(), "reason_form": ReasonForm(),
    })


@login_required
@require_POST
def user_action(request, user_id: int, action: str):
    _require_admin(request.user)
    target = get_object_or_404(User, pk=user_id)
    form = MembershipForm(request.POST) if action == "grant" else ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{form.fields[f].label if f in form.fields else ''}: {' '.join(e)}"
                                          for f, e in form.errors.items()))
        return redirect("user_detail", user_id=target.pk)
    reason = form.cleaned_data["reason"]
    try:
        if action == "reset":
            password = services.user_password_reset(by=request.user, user=target, reason=reason)
            return render(request, "core/users/password_once.html", {"target": target, "password": password,
                                                                     "invited": False})
        if action in ("deactivate", "reactivate"):
            services.user_set_active(by=request.user, user=target, active=action == "reactivate", reason=reason)
            messages.success(request, _("Saved: %(u)s is now %(state)s.") % {
                "u": target.username, "state": _("active") if action == "reactivate" else _("deactivated")})
        elif action == "grant":
            services.user_membership_add(by=request.user, user=target, role=form.cleaned_data["role"],
                                         site=form.cleaned_data["site"], reason=reason)
            messages.success(request, _("Membership granted."))
        elif action == "revoke":
            membership = get_object_or_404(Membership, pk=request.POST.get("membership"), user=target)
            services.user_membership_revoke(by=request.user, membership=membership, reason=reason)
            messages.success(request, _("Membership revoked."))
        else:
            from django.http import Http404

            raise Http404
    except (services.UserAdminError, services.MembershipError) as exc:
        messages.error(request, str(exc))
    return redirect("user_detail", user_id=target.pk)
