"""Blinding is a property of everything the system sends (core/blinding.py): signature
"broken" reasons, notices and e-mails, audit rows — swept for a user with mixed memberships
(coordinator at site 001, blinded outcome assessor at site 002) and the blinded data manager."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from core.models import Notification
from core.roles import Role
from tests.conftest import PASSWORD, make_user
from tests.security.test_sweep import ARM_WORDS, _arm_words_in_labels, crawl

pytestmark = pytest.mark.django_db

# What a signature reason of the procedure form used to say ("V1 procedure changed after
# signing — stent diameter (mm): 3.0 → 3.5", "V1 passes after randomization changed").
REASON_LEAK = re.compile(r"procedure|pass|stent|diameter|3\.5|balloon|angioplasty", re.I)


@pytest.fixture
def mixed(personas, sites):
    """Site staff at 001 and blinded outcome assessor at 002: blinded everywhere."""
    user = make_user("mixed", Role.COORDINATOR, sites["001"])
    make_user("mixed", Role.ASSESSOR, sites["002"])
    return user


def _edit_signed_procedure(study, personas):
    from datamanagement import services as dm
    from followup import services as fu

    subject = study["subjects"]["001-0"]
    dm.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password=PASSWORD)
    v1 = study["procedure"]
    v1.refresh_from_db()
    fu.procedure_save(subject=subject, user=personas["coord001"], version=v1.version, reason="typo",
                      passes=[{"technique": "stent_retriever", "etici": "2b50"},
                              {"technique": "contact_aspiration", "etici": "2b67"}],
                      data={"first_reperfusion_at": v1.first_reperfusion_at, "stent": True,
                            "stent_type": "balloon_expandable", "stent_diameter_mm": "3.5",
                            "final_etici": "2b67"})
    return subject


def test_signature_broken_by_a_procedure_edit_gives_no_arm_in_its_reason(study, personas, client_for):
    from datamanagement.models import Signature

    subject = _edit_signed_procedure(study, personas)
    broken = list(Signature.objects.filter(subject=subject).exclude(broken_at=None))
    assert broken, "the edit must break the casebook signature"
    for s in broken:
        assert not REASON_LEAK.search(s.broken_reason), s.broken_reason
        assert "changed after signing" in s.broken_reason
    # … and neither the data manager's subject page nor the audit CSV (data manager, admin) says it
    for who in ("datamanager", "admin"):
        client = client_for(who)
        for url in (f"/data/subjects/{subject.pk}/", "/data/audit/?format=csv",
                    f"/data/audit/?subject={subject.number}"):
            response = client.get(url)
            if response.status_code != 200:
                continue
            body = response.content.decode()
            for m in re.finditer(r"changed after signing[^\n<]*", body):
                assert not REASON_LEAK.search(m.group(0)), f"{who} {url}: {m.group(0)}"
            assert not ARM_WORDS.search(body), f"{who} {url}: {ARM_WORDS.search(body)}"


def test_a_signature_reason_of_a_neutral_form_keeps_its_detail(study, personas):
    from core.blinding import reveals_arm

    assert reveals_arm(crf_code="V1_PROCEDURE")
    assert not reveals_arm(crf_code="V3_48H")
    assert reveals_arm(app_label="randomization")


def test_procedure_query_notices_and_emails_never_reach_a_mixed_membership_user(
        study, personas, mixed, django_capture_on_commit_callbacks):
    from datamanagement import services as dm

    mail.outbox.clear()
    before = set(Notification.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        dm.query_open(user=personas["monitor"], instance=study["procedure"], field_name="final_etici",
                      text="Final eTICI?")
    new = Notification.objects.exclude(pk__in=before)
    recipients = set(new.values_list("user__username", flat=True))
    assert "coord001" in recipients and "inv001" in recipients  # the unblinded site staff get it
    assert "mixed" not in recipients
    assert all("mixed@example.org" not in m.to for m in mail.outbox)
    assert any("coord001@example.org" in m.to for m in mail.outbox)

    # a query on a form that does not reveal the arm does reach the mixed user (not over-blinded)
    before = set(Notification.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        dm.query_open(user=personas["monitor"], instance=study["screenings"]["001-rand0"], field_name="aspects",
                      text="ASPECTS again?")
    assert "mixed" in set(Notification.objects.exclude(pk__in=before).values_list("user__username", flat=True))


@pytest.mark.parametrize("who", ["mixed", "datamanager"])
def test_crawl_and_notification_sweep_for_blinded_users_find_no_arm(who, study, personas, mixed, client_for,
                                                                   django_capture_on_commit_callbacks):
    from datamanagement import services as dm

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _edit_signed_procedure(study, personas)
        dm.query_open(user=personas["monitor"], instance=study["procedure"], field_name="final_etici",
                      text="Please check the final eTICI")
    client = client_for(who) if who != "mixed" else None
    if client is None:
        from django.test import Client

        client = Client()
        client.force_login(mixed)
    client.raise_request_exception = False
    # Start from the home page, the inbox, the subject's pages and the audit trail; the crawl
    # follows every same-site link from there.
    s1 = study["subjects"]["001-0"]
    start = ["/", "/subjects/notifications/", "/data/queries/", "/data/audit/", "/data/audit/?format=csv",
             f"/data/audit/?subject={s1.number}", f"/data/subjects/{s1.pk}/", f"/subjects/{s1.number}/",
             "/subjects/", "/exports/center/", "/exports/reports/"]
    pages = crawl(client, start)
    assert sum(status == 200 for status, _ in pages.values()) >= 10, {u: s for u, (s, _) in pages.items()}
    assert pages.get("/subjects/notifications/", (None,))[0] == 200
    labels = _arm_words_in_labels()
    leaks = []
    for url, (status, bodies) in pages.items():
        assert status < 500, f"{who} GET {url} → {status}"
        for body in bodies:
            m = ARM_WORDS.search(body)
            if m:
                leaks.append(f"{url}: {body[max(0, m.start() - 80):m.end() + 80]!r}")
            leaks += [f"{url}: {label!r}" for label in labels if label in body]
            for m in re.finditer(r"changed after signing[^\n<]*", body):
                if REASON_LEAK.search(m.group(0)):
                    leaks.append(f"{url}: {m.group(0)}")
    user = personas.get(who) or mixed
    for n in Notification.objects.filter(user=user):
        text = f"{n.title}\n{n.body}"
        if ARM_WORDS.search(text) or re.search(r"procedure|V1_PROCEDURE", text, re.I):
            leaks.append(f"notice: {text!r}")
    for m in mail.outbox:
        if user.email in m.to and (ARM_WORDS.search(m.subject + m.body) or re.search(r"procedure", m.body, re.I)):
            leaks.append(f"e-mail: {m.subject!r}")
    assert not leaks, f"{who} learns the arm:\n" + "\n".join(leaks)


def test_signature_reasons_written_before_the_neutral_wording_are_withheld_from_blinded_readers(
        study, personas, client_for):
    """A reason stored by the old wording ("V1 procedure changed after signing — stent …") is
    still never shown to a blinded reader: subject page, audit trail, audit CSV."""
    from core import crf as registry
    from datamanagement import services as dm
    from datamanagement.models import Signature

    subject = study["subjects"]["001-0"]
    signature = dm.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password=PASSWORD)
    label = registry.get("V1_PROCEDURE").label
    old = f"{label} changed after signing — stent diameter (mm): 3.0 → 3.5 (by coord001)"
    Signature.objects.filter(pk=signature.pk).update(broken_at=signature.signed_at, broken_reason=old)
    for who in ("datamanager", "admin"):
        client = client_for(who)
        for url in (f"/data/subjects/{subject.pk}/", "/data/audit/?format=csv", "/data/audit/"):
            response = client.get(url)
            if response.status_code == 200:
                assert "stent diameter" not in response.content.decode(), f"{who} {url}"
    body = client_for("coord001").get(f"/data/subjects/{subject.pk}/")
    if body.status_code == 200:
        assert "stent diameter" in body.content.decode()  # the unblinded site staff still read it
