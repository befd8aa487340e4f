"""Hardening with the production settings (DEBUG off): security headers, no-store, the client
address behind trusted proxies, failed TOTP audited and throttled, the same answer for known and
unknown user names, no inline script handlers."""

import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from audit.middleware import client_ip
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_tests_run_with_debug_off():
    assert settings.DEBUG is False


def _csp(response) -> dict[str, str]:
    return {d.split()[0]: d for d in (x.strip() for x in response["Content-Security-Policy"].split(";")) if d}


def test_security_headers_on_pages_and_downloads(personas, client_for):
    client = client_for("datamanager")
    for url in ("/", reverse("datamanagement:audit"), reverse("datamanagement:audit") + "?format=csv"):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = _csp(response)
        assert csp["default-src"] == "default-src 'self'"
        assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        assert re.fullmatch(r"script-src 'self' 'nonce-[\w-]+'", csp["script-src"])
        assert csp["frame-ancestors"] == "frame-ancestors 'none'" and csp["object-src"] == "object-src 'none'"
        assert "no-store" in response["Cache-Control"], url
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
    anonymous = Client().get("/account/login/")
    assert "no-store" in anonymous["Cache-Control"] and "default-src 'self'" in anonymous["Content-Security-Policy"]


def test_inline_scripts_carry_the_nonce_of_the_header(personas, client_for, sites):
    # (The screening form's behaviour moved to static/edc/screening.js; the reports page still
    # has an inline script.)
    response = client_for("coord001").get(reverse("exports:reports"))
    body = response.content.decode()
    nonce = re.search(r"'nonce-([\w-]+)'", response["Content-Security-Policy"]).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", body)
    assert inline, "the reports page has an inline script"
    for attrs in inline:
        assert f'nonce="{nonce}"' in attrs or 'type="application/json"' in attrs, attrs


def test_no_template_uses_inline_event_handlers_or_javascript_urls():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for m in re.finditer(r"""\son[a-z]+\s*=\s*["']|javascript:""", text):
            offenders.append(f"{path.relative_to(ROOT)}: {text[max(0, m.start() - 40):m.end() + 40]!r}")
    assert not offenders, "\n".join(offenders)


@override_settings(EDC_TRUSTED_PROXY_COUNT=1)
def test_client_ip_is_the_hop_the_trusted_proxy_saw_not_the_client_written_first_hop():
    rf = RequestFactory()
    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5", REMOTE_ADDR="10.0.0.2")
    assert client_ip(request) == "203.0.113.5"
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
    assert client_ip(rf.get("/", HTTP_X_FORWARDED_FOR="not-an-ip", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
    with override_settings(EDC_TRUSTED_PROXY_COUNT=2):
        request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1, 10.0.0.9", REMOTE_ADDR="10.0.0.2")
        assert client_ip(request) == "198.51.100.1"
        assert client_ip(rf.get("/", HTTP_X_FORWARDED_FOR="198.51.100.1", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
    with override_settings(EDC_TRUSTED_PROXY_COUNT=0):
        assert client_ip(rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


@override_settings(EDC_TRUSTED_PROXY_COUNT=1, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_audited_sign_in_address_cannot_be_spoofed(personas):
    Client(REMOTE_ADDR="10.0.0.2").post("/account/login/", {"username": "coord001", "password": "wrong"},
                                        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5")
    event = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).latest("id")
    assert event.ip == "203.0.113.5"


def _totp_device(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="authenticator", defaults={"confirmed": True})
    return device


def _token(device, at=None):
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():06d}"


def test_failed_totp_codes_are_audited_and_throttled(personas):
    user = personas["datamanager"]
    device = _totp_device(user)
    client = Client()
    client.force_login(user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response = client.post("/account/2fa/", {"token": "000000" if _token(device) != "000000" else "111111"})
        assert response.status_code == 200
        assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_FAILED, actor=user).count() == 1
        # throttled: even the right code is refused right after a wrong one
        response = client.post("/account/2fa/", {"token": _token(device)})
        assert response.status_code == 200 and b"Too many wrong codes" in response.content
        assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_FAILED, actor=user,
                                         detail__throttled=True).exists()
    later = start + timezone.timedelta(seconds=5)
    with time_machine.travel(later, tick=False):
        response = client.post("/account/2fa/", {"token": _token(device, later), "next": "/"})
        assert response.status_code == 302


def test_the_breach_form_gives_the_same_answer_for_known_and_unknown_user_names(personas, sites, client_for):
    from randomization.models import BlindingBreach

    client = client_for("coord001")
    url = reverse("randomization:breach_new")
    base = {"site": sites["001"].pk, "subject_number": "", "unblinded_person": "",
            "occurred_at": "2026-01-02T10:00", "route": "told", "description": "Overheard at the bedside."}
    known = client.post(url, {**base, "unblinded_username": "assessor001"})
    unknown = client.post(url, {**base, "unblinded_username": "nobody-by-this-name"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert BlindingBreach.objects.filter(unblinded_person="nobody-by-this-name").exists()
    assert BlindingBreach.objects.filter(unblinded_user=personas["assessor001"]).exists()


def test_login_failure_answer_is_the_same_for_known_and_unknown_user_names(personas):
    known = Client().post("/account/login/", {"username": "coord001", "password": "wrong"})
    unknown = Client().post("/account/login/", {"username": "no-such-user", "password": "wrong"})
    assert known.status_code == unknown.status_code == 200

    def text(r):
        return re.sub(r'value="[^"]*"|"X-CSRFToken": "[^"]*"|nonce="[^"]*"', "", r.content.decode())

    assert text(known).replace("coord001", "X") == text(unknown).replace("no-such-user", "X")
    for _ in range(5):
        Client().post("/account/login/", {"username": "coord001", "password": "wrong"})
        Client().post("/account/login/", {"username": "no-such-user", "password": "wrong"})
    a = Client().post("/account/login/", {"username": "coord001", "password": PASSWORD})
    b = Client().post("/account/login/", {"username": "no-such-user", "password": PASSWORD})
    assert a.status_code == b.status_code == 429
