"""Forced password change: after an administrator invites a user or resets a password
(User.must_change_password), the next sign-in leads to "choose your own password" and
nothing else opens until it is done."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class ForcedPasswordChangeMiddleware:
    ALLOWED = ("/account/password/", "/account/logout/", "/account/2fa/", "/static/", "/i18n/",
               "/account/keepalive/", "/favicon.ico", "/healthz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and getattr(user, "must_change_password", False)
                and not request.path.startswith(self.ALLOWED)):
            return redirect(reverse("password_change_forced"))
        return self.get_response(request)


class NewPasswordForm(forms.Form):
    new_password1 = forms.CharField(label=gettext_lazy("New password"), strip=False,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    new_password2 = forms.CharField(label=gettext_lazy("New password again"), strip=False,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("new_password1"), data.get("new_password2")
        if p1 and p2 and p1 != p2:
            self.add_error("new_password2", _("New password again: the two passwords differ."))
        elif p1:
            if self.user.check_password(p1):
                self.add_error("new_password1", _("New password: choose a password other than the temporary one."))
            try:
                password_validation.validate_password(p1, self.user)
            except forms.ValidationError as exc:
                self.add_error("new_password1", exc)
        return data


@login_required
def password_change_forced_view(request):
    from core.services import password_change_forced

    user = request.user
    form = NewPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        password_change_forced(user=user, password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, user)
        return redirect("home")
    return render(request, "registration/password_change_forced.html", {"form": form, "forced": user.must_change_password},
                  status=400 if request.method == "POST" else 200)
