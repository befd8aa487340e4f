"""The "API tokens" page: a user creates, names, lists and revokes their personal tokens.

Privileged roles reach it only after two-factor sign-in (core.middleware enforces it for every
page, and this view checks it again)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from api import selectors, services
from api.exceptions import ApiError
from api.forms import TokenForm
from core import access


def _require_ready(request):
    if not access.user_memberships(request.user):
        raise PermissionDenied(_("API tokens are for users with a role in the trial."))
    if access.needs_two_factor(request.user) and not request.user.is_verified():
        raise PermissionDenied(_("Sign in with two-factor authentication before managing API tokens."))


@login_required
def tokens(request):
    _require_ready(request)
    new_token = None
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            expires_on = form.cleaned_data.get("expires_on")
            expires_at = (dt.datetime.combine(expires_on, dt.time(), tzinfo=dt.UTC) if expires_on else None)
            try:
                token, new_token = services.token_create(user=request.user, label=form.cleaned_data["label"],
                                                         expires_at=expires_at)
            except ApiError as exc:
                form.add_error(None, str(exc))
            else:
                form = TokenForm()
    else:
        form = TokenForm()
    rows = list(selectors.tokens_for(request.user))
    now = timezone.now()
    response = render(request, "api/tokens.html", {
        "form": form, "new_token": new_token, "now": now,
        "rows": [(t, t.state(now)) for t in rows],
        "api_url": request.build_absolute_uri(reverse("api:redcap")),
    })
    response["Cache-Control"] = "no-store"  # the new token is on this page once
    return response


@login_required
@require_POST
def revoke(request, token_id: int):
    _require_ready(request)
    token = selectors.token_of(request.user, token_id)
    services.token_revoke(user=request.user, token=token)
    messages.success(request, _("Token “%(label)s” revoked.") % {"label": token.label})
    return redirect("api:tokens")
