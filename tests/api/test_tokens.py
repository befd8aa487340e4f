"""API tokens: format, hashing, expiry, revocation (401), the page (2FA for privileged roles),
the management command, and one audit event per request."""

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from api.services import token_create, token_digest, token_revoke
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _post(token, **data):
    return Client().post("/api/", {"token": token, "format": "json", **data})


def test_token_is_32_upper_hex_stored_hashed_and_acts_as_its_user(personas):
    row, raw = token_create(user=personas["coord001"], label="R script")
    assert re.fullmatch(r"[0-9A-F]{32}", raw)
    assert row.digest == token_digest(raw) and raw not in row.digest and row.hint == raw[-4:]
    assert not ApiToken.objects.filter(digest=raw).exists()
    response = _post(raw, content="instrument")
    assert response.status_code == 200
    assert {"instrument_name": "subject", "instrument_label": "Subject"} in response.json()
    event = AuditEvent.objects.filter(detail__event="api_request").latest("pk")
    assert event.actor == personas["coord001"]
    assert event.detail["api_token"] == "R script"
    assert event.detail["endpoint"] == "POST /api/ content=instrument"


def test_revoked_and_expired_tokens_get_401(personas):
    user = personas["statistician"]
    row, raw = token_create(user=user, label="old laptop")
    assert _post(raw, content="version").status_code == 200
    token_revoke(user=user, token=row)
    response = _post(raw, content="metadata")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]
    soon, raw2 = token_create(user=user, label="short", expires_at=timezone.now() + dt.timedelta(minutes=1))
    assert _post(raw2, content="version").status_code == 200
    ApiToken.objects.filter(pk=soon.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = _post(raw2, content="record")
    assert response.status_code == 401 and "expired" in response.json()["error"]
    assert _post("0" * 32, content="version").status_code == 401
    assert _post("not-a-token", content="version").status_code == 401
    assert Client().post("/api/v1/sites/", HTTP_AUTHORIZATION=f"Token {raw}").status_code == 401
    refused = AuditEvent.objects.filter(detail__event="api_request", detail__status=401)
    assert refused.count() >= 4


def test_another_users_token_cannot_be_revoked(personas):
    from api.exceptions import NotPermitted

    row, _raw = token_create(user=personas["coord001"], label="mine")
    with pytest.raises(NotPermitted):
        token_revoke(user=personas["coord002"], token=row)


def test_management_command_prints_the_token_alone_on_its_last_line(personas):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token_create", "--user", "datamanager", "--label", "nightly R", stdout=out, stderr=err)
    last = out.getvalue().strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9A-F]{32}", last)
    token = ApiToken.objects.get(digest=token_digest(last))
    assert token.user.username == "datamanager" and token.label == "nightly R"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--user"):
        call_command("api_token_create", "--user", "nobody", stdout=io.StringIO())


def test_page_creates_lists_and_revokes_tokens(client_for, personas):
    client = client_for("coord001")
    page = client.get("/api/tokens/")
    assert page.status_code == 200 and b"API tokens" in page.content
    created = client.post("/api/tokens/", {"label": "Stata do-file"})
    shown = re.search(rb'data-testid="new-token">([0-9A-F]{32})<', created.content).group(1).decode()
    token = ApiToken.objects.get(user=personas["coord001"])
    assert token.digest == token_digest(shown)
    again = client.get("/api/tokens/")
    assert shown.encode() not in again.content  # shown once
    assert b"Stata do-file" in again.content
    assert client.post("/api/tokens/", {"label": ""}).status_code == 200
    assert ApiToken.objects.count() == 1
    client.post(f"/api/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    other = client_for("coord002")
    assert other.post(f"/api/tokens/{token.pk}/revoke/").status_code == 404


def test_privileged_roles_need_two_factor_for_the_page(personas):
    client = Client()
    client.force_login(personas["statistician"])
    response = client.get("/api/tokens/")
    assert response.status_code == 302 and "/account/2fa/" in response["Location"]
    assert client.post("/api/tokens/", {"label": "x"}).status_code == 302
    assert not ApiToken.objects.exists()
