"""Site user administration: invite → first sign-in → forced password change; reset and
deactivate audited with a reason; a site role must have a site."""

import re

import pytest
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Blue-Harbour-Lantern-77"


def _temporary_password(response) -> str:
    match = re.search(r'data-testid="temporary-password">([^<]+)<', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1).strip()


def _sign_in(username, password) -> Client:
    client = Client()
    response = client.post("/account/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:500]
    return client


def test_invitation_first_sign_in_forces_a_password_change(client_for, personas, sites, settings,
                                                          django_capture_on_commit_callbacks):
    from audit.models import AuditEvent
    from core.models import User

    settings.EDC_BASE_URL = "https://edc.example.org"
    User.objects.filter(pk=personas["inv002"].pk).update(first_name="Jie", last_name="Chen")  # a namesake
    admin = client_for("admin")
    form = {"username": "chen.jie2", "first_name": "Jie", "last_name": "Chen", "email": "chen.jie2@example.org",
            "role": "coordinator", "site": "", "reason": "Delegation log entry 14"}
    refused = admin.post("/account/users/invite/", form)
    assert refused.status_code == 400 and "a site role needs a site" in refused.content.decode()
    assert not User.objects.filter(username="chen.jie2").exists()
    assert admin.post("/account/users/invite/", {**form, "site": sites["002"].pk, "reason": ""}).status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/account/users/invite/", {**form, "site": sites["002"].pk})
    assert response.status_code == 200
    temporary = _temporary_password(response)
    user = User.objects.get(username="chen.jie2")
    assert user.must_change_password and user.memberships.get().site == sites["002"]
    event = AuditEvent.objects.get(object_type="core.User", object_id=str(user.pk))
    assert event.reason == "Delegation log entry 14" and "invited by admin" in event.summary
    assert len(mail.outbox) == 1 and "https://edc.example.org/account/login/" in mail.outbox[0].body
    assert temporary not in mail.outbox[0].body  # the password goes by another channel

    # Two "Chen Jie" are told apart on the list (username, e-mail, role and site).
    listing = admin.get("/account/users/?q=chen").content.decode()
    assert "chen.jie2@example.org" in listing and "inv002" in listing

    client = _sign_in("chen.jie2", temporary)
    for url in ("/", "/screening/list/", "/subjects/"):
        page = client.get(url)
        assert page.status_code == 302 and page["Location"] == "/account/password/", url
    same = client.post("/account/password/", {"new_password1": temporary, "new_password2": temporary})
    assert same.status_code == 400 and "other than the temporary one" in same.content.decode()
    done = client.post("/account/password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/").status_code == 200  # still signed in, free to work
    user.refresh_from_db()
    assert not user.must_change_password and user.check_password(NEW_PASSWORD)


def test_reset_and_deactivate_are_audited_with_reason_naming_both_users(client_for, personas):
    from audit.models import AuditEvent

    target = personas["coord002"]
    admin = client_for("admin")
    assert admin.post(f"/account/users/{target.pk}/reset/", {"reason": ""}).status_code == 302
    target.refresh_from_db()
    assert not target.must_change_password  # refused without a reason
    response = admin.post(f"/account/users/{target.pk}/reset/", {"reason": "Forgot password (phone call)"})
    temporary = _temporary_password(response)
    event = AuditEvent.objects.filter(object_type="core.User", object_id=str(target.pk)).latest("id")
    assert "coord002" in event.summary and "admin" in event.summary and event.reason == "Forgot password (phone call)"
    client = _sign_in("coord002", temporary)
    assert client.get("/")["Location"] == "/account/password/"

    admin.post(f"/account/users/{target.pk}/deactivate/", {"reason": "Left the hospital"})
    target.refresh_from_db()
    assert not target.is_active
    assert Client().post("/account/login/", {"username": "coord002", "password": temporary}).status_code == 200
    detail = admin.get(f"/account/users/{target.pk}/").content.decode()
    assert "Left the hospital" in detail and "Forgot password (phone call)" in detail


def test_user_pages_are_for_administrators_only(client_for, personas):
    for username in ("coord001", "monitor", "datamanager"):
        assert client_for(username).get("/account/users/").status_code == 403, username


def test_user_list_query_count_is_constant(client_for, personas, sites):
    from core.models import User
    from core.services import membership_grant

    admin = client_for("admin")
    admin.get("/account/users/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin.get("/account/users/")
    for i in range(25):
        u = User.objects.create_user(username=f"extra{i}", email=f"e{i}@example.org")
        membership_grant(user=u, role="coordinator", site=sites["001"])
    with CaptureQueriesContext(connection) as many:
        assert admin.get("/account/users/").status_code == 200
    assert len(many) == len(few)
