"""Separation of duties: an administrator cannot grant himself a clinical or unblinded role (a
second administrator must), membership changes carry a reason, and an administrator cannot
set another user's password silently (temporary, audited naming both)."""

import pytest
from django.test import Client

from audit.models import AuditAction, AuditEvent
from core.models import Membership
from core.roles import Role
from core.services import MembershipError, membership_grant
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role,site", [(Role.COORDINATOR, "001"), (Role.STATISTICIAN, None),
                                       (Role.INVESTIGATOR, "002"), (Role.ASSESSOR, "001")])
def test_an_administrator_cannot_grant_himself_a_clinical_or_unblinded_role(personas, sites, role, site):
    admin = personas["admin"]
    with pytest.raises(MembershipError, match="another administrator"):
        membership_grant(user=admin, role=role, site=sites[site] if site else None, by=admin, reason="x")
    assert not Membership.objects.filter(user=admin, role=role).exists()


def test_a_second_administrator_may_grant_it_and_the_reason_is_audited(personas, sites):
    admin = personas["admin"]
    admin2 = make_user("admin2", Role.ADMIN, None, is_staff=True)
    membership_grant(user=admin, role=Role.COORDINATOR, site=sites["001"], by=admin2, reason="Covers site 001")
    event = AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CHANGED, actor=admin2).latest("id")
    assert event.reason == "Covers site 001" and "admin2" in event.summary and "admin" in event.summary


def _admin_client(personas, client_for):
    return client_for("admin")


def test_django_admin_refuses_a_self_grant_and_requires_a_reason(personas, sites, client_for):
    admin = personas["admin"]
    client = client_for("admin")
    data = {"user": admin.pk, "role": Role.COORDINATOR, "site": sites["001"].pk, "active": "on", "reason": "x"}
    response = client.post("/admin/core/membership/add/", data)
    assert response.status_code == 200 and b"separation of duties" in response.content
    assert not Membership.objects.filter(user=admin, role=Role.COORDINATOR).exists()

    other = personas["coord002"]
    response = client.post("/admin/core/membership/add/", {**data, "user": other.pk, "reason": ""})
    assert response.status_code == 200 and not Membership.objects.filter(user=other, site=sites["001"]).exists()
    response = client.post("/admin/core/membership/add/", {**data, "user": other.pk, "reason": "Helps at 001"})
    assert response.status_code == 302
    assert Membership.objects.filter(user=other, role=Role.COORDINATOR, site=sites["001"], active=True).exists()
    assert AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CHANGED, reason="Helps at 001").exists()


def test_django_admin_cannot_change_role_of_an_existing_membership(personas, client_for):
    admin = personas["admin"]
    own = Membership.objects.get(user=admin, role=Role.ADMIN)
    client = client_for("admin")
    client.post(f"/admin/core/membership/{own.pk}/change/",
                {"user": admin.pk, "role": Role.STATISTICIAN, "site": "", "active": "on", "reason": "x"})
    own.refresh_from_db()
    assert own.role == Role.ADMIN
    assert not Membership.objects.filter(user=admin, role=Role.STATISTICIAN).exists()


def test_admin_set_password_is_temporary_audited_and_names_both_users(personas, client_for):
    admin, coord = personas["admin"], personas["coord001"]
    client = client_for("admin")
    url = f"/admin/core/user/{coord.pk}/password/"
    new = "Brand-New-Secret-77"
    response = client.post(url, {"password1": new, "password2": new, "reason": ""})
    assert response.status_code == 200  # no reason, no password
    coord.refresh_from_db()
    assert not coord.check_password(new)
    response = client.post(url, {"password1": new, "password2": new, "usable_password": "true",
                                 "reason": "User forgot it; phoned"})
    assert response.status_code == 302, response.content[:2000]
    coord.refresh_from_db()
    assert coord.check_password(new)
    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_SET)
    assert event.actor == admin and event.reason == "User forgot it; phoned"
    assert "coord001" in event.summary and "admin" in event.summary
    assert event.detail == {"event": "password_set", "user": "coord001", "by": "admin"}
    if hasattr(coord, "must_change_password"):
        assert coord.must_change_password is True


def test_admin_cannot_set_his_own_password_in_the_admin(personas, client_for):
    admin = personas["admin"]
    response = client_for("admin").post(f"/admin/core/user/{admin.pk}/password/",
                                        {"password1": "Another-Secret-88", "password2": "Another-Secret-88",
                                         "reason": "x"})
    assert response.status_code == 403


def test_a_stranger_cannot_lock_out_a_named_user_from_elsewhere(personas):
    for _ in range(6):
        Client(REMOTE_ADDR="203.0.113.9").post("/account/login/", {"username": "admin", "password": "wrong"})
    assert Client(REMOTE_ADDR="203.0.113.9").post(
        "/account/login/", {"username": "admin", "password": "Correct-Horse-42"}).status_code == 429
    # the administrator, from his own address, still signs in
    response = Client(REMOTE_ADDR="198.51.100.7").post("/account/login/",
                                                       {"username": "admin", "password": "Correct-Horse-42"})
    assert response.status_code == 302
