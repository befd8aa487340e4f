"""Writes of the API app: create and revoke tokens, authenticate a request, audit each request."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.exceptions import NotPermitted, TokenInvalid, TokenLabelInvalid
from api.models import ApiToken
from audit.models import AuditAction
from audit.services import audit_event_record
from core import access

TOKEN_PATTERN = re.compile(r"^[0-9A-F]{32}$")
LABEL_MAX = 100


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def _check_label(label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise TokenLabelInvalid(_("Label: give the token a name (e.g. the script that uses it)."))
    if len(label) > LABEL_MAX:
        raise TokenLabelInvalid(_("Label: at most %(n)s characters; found %(found)s.")
                                % {"n": LABEL_MAX, "found": len(label)})
    if any(ord(ch) < 32 for ch in label):
        raise TokenLabelInvalid(_("Label: control characters are not allowed."))
    return label


@transaction.atomic(durable=True)
def token_create(*, user, label: str, expires_at: datetime | None = None, created_by=None) -> tuple[ApiToken, str]:
    """A new personal token of `user`. Returns the row and the token itself, which is shown
    once and never stored (only its SHA-256 digest is)."""
    label = _check_label(label)
    if not user.is_active or not access.user_memberships(user):
        raise NotPermitted(_("User %(u)s has no active role; an API token would give no access.")
                           % {"u": user.username})
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenLabelInvalid(_("Expiry: must be in the future; found %(found)s.")
                                % {"found": f"{expires_at:%Y-%m-%d %H:%M} UTC"})
    raw = secrets.token_hex(16).upper()
    token = ApiToken.objects.create(user=user, label=label, digest=token_digest(raw), hint=raw[-4:],
                                    expires_at=expires_at, created_by=created_by or user)
    audit_event_record(action=AuditAction.OTHER, actor=created_by or user, obj=token,
                       summary=f"API token created for {user.username}: {label}",
                       detail={"event": "api_token_created", "user": user.username, "label": label,
                               "expires_at": expires_at.isoformat() if expires_at else None})
    return token, raw


@transaction.atomic(durable=True)
def token_revoke(*, user, token: ApiToken) -> ApiToken:
    """Revoke one of the user's own tokens (never deleted; the next request gets 401)."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != user.pk:
        raise NotPermitted(_("You may revoke only your own tokens."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = user
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_event_record(action=AuditAction.OTHER, actor=user, obj=token,
                           summary=f"API token revoked: {token.label}",
                           detail={"event": "api_token_revoked", "label": token.label})
    return token


def authenticate(raw: str | None) -> ApiToken:
    """The active token for `raw`, with its user; TokenInvalid (HTTP 401) otherwise."""
    raw = (raw or "").strip()
    if not raw:
        raise TokenInvalid(_("No API token was given (parameter 'token')."))
    if not TOKEN_PATTERN.match(raw):
        raise TokenInvalid(_("The API token is not valid: expected 32 upper-case hexadecimal characters."))
    digest = token_digest(raw)
    token = ApiToken.objects.select_related("user").filter(digest=digest).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        raise TokenInvalid(_("You do not have permissions to use the API: unknown token."))
    state = token.state()
    if state == "revoked":
        raise TokenInvalid(_("This API token was revoked on %(when)s UTC.")
                           % {"when": f"{token.revoked_at:%Y-%m-%d %H:%M}"})
    if state == "expired":
        raise TokenInvalid(_("This API token expired on %(when)s UTC.")
                           % {"when": f"{token.expires_at:%Y-%m-%d %H:%M}"})
    if not token.user.is_active:
        raise TokenInvalid(_("The account of this API token is deactivated."))
    return token


def request_record(*, token: ApiToken | None, endpoint: str, status: int, records: int | None = None,
                   detail: dict | None = None, ip: str | None = None) -> None:
    """One audit event per API request: user, token label, endpoint, records returned."""
    user = token.user if token is not None else None
    label = token.label if token is not None else ""
    info = {"event": "api_request", "api_token": label, "endpoint": endpoint, "status": status,
            "records": records}
    if detail:
        info.update(detail)
    summary = f"API {endpoint} by {getattr(user, 'username', 'anonymous')} (token {label or '-'}): " \
              f"HTTP {status}" + (f", {records} records" if records is not None else "")
    audit_event_record(action=AuditAction.OTHER, actor=user, obj=token, summary=summary, detail=info, ip=ip)
