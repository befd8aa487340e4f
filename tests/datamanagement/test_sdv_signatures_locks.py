"""SDV cleared by a change (and why shown); signatures broken by a change; nobody can write
locked data — at the service level, over HTTP and in the database itself."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction

from datamanagement import selectors, services
from datamanagement.crfs import field_names
from datamanagement.exceptions import DataLocked, LockError, WrongPassword
from tests.conftest import PASSWORD
from tests.datamanagement.conftest import update_screening

pytestmark = pytest.mark.django_db


# --- SDV --------------------------------------------------------------------------------------

def test_monitor_verifies_a_whole_form_and_a_change_clears_only_the_changed_field(screening, personas):
    from core import crf

    n = services.sdv_mark(user=personas["monitor"], instance=screening)
    assert n == len(field_names(crf.get("SCREENING")))
    update_screening(screening, user=personas["coord001"], aspects=7, reason="CT re-read by radiologist")
    status = selectors.sdv_status_for(user=personas["monitor"], instance=screening)
    assert "aspects" not in status and "age_years" in status
    cleared = selectors.sdv_cleared_for(user=personas["monitor"], instance=screening)["aspects"]
    assert "8 to 7" in cleared.cleared_reason and "CT re-read by radiologist" in cleared.cleared_reason
    assert "coord001" in cleared.cleared_reason


def test_sdv_per_field_and_why_it_was_cleared_is_shown(screening, personas, client_for):
    monitor = client_for("monitor")
    r = monitor.post(f"/data/crf/SCREENING/{screening.pk}/sdv/", {"fields": ["age_years", "aspects"]})
    assert r.status_code == 302
    assert set(selectors.sdv_status_for(user=personas["monitor"], instance=screening)) == {"age_years", "aspects"}
    update_screening(screening, user=personas["coord001"], age_years=65, reason="typo")
    body = monitor.get(f"/data/crf/SCREENING/{screening.pk}/").content.decode()
    assert 'data-testid="sdv-cleared-age_years"' in body and "64 to 65" in body and "typo" in body
    assert 'data-testid="sdv-aspects"' in body


@pytest.mark.parametrize("who", ["coord001", "inv001", "datamanager", "statistician", "admin", "assessor001"])
def test_only_the_monitor_marks_sdv(who, screening, personas):
    with pytest.raises(PermissionDenied):
        services.sdv_mark(user=personas[who], instance=screening)


def test_sdv_progress_per_site_and_subject(randomized, personas, client_for):
    screening, subject = randomized()
    services.sdv_mark(user=personas["monitor"], instance=screening, fields=["age_years", "aspects"])
    sites, subjects = selectors.sdv_progress(user=personas["monitor"])
    [site001] = [p for p in sites if p.label.startswith("001")]
    assert site001.verified == 2 and site001.total >= 2
    assert selectors.sdv_progress(user=personas["monitor"])[0] == sites  # stable
    body = client_for("monitor").get("/data/sdv/").content.decode()
    assert "2 / " in body


# --- Signatures -------------------------------------------------------------------------------

def test_investigator_signs_casebook_with_password_and_meaning(randomized, personas, client_for):
    _, subject = randomized()
    inv = client_for("inv001")
    page = inv.get(f"/data/subjects/{subject.pk}/sign/?scope=casebook").content.decode()
    assert "I, inv001, approve the data in this casebook of subject" in page
    r = inv.post(f"/data/subjects/{subject.pk}/sign/", {"scope": "casebook", "visit": "", "password": PASSWORD,
                                                        "understood": "on"})
    assert r.status_code == 302
    body = inv.get(f"/data/subjects/{subject.pk}/").content.decode()
    assert "Signed" in body and "inv001" in body and "approve the data in this casebook" in body
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="signature", actor=personas["inv001"], summary__startswith="Signed").exists()


def test_wrong_password_does_not_sign_and_the_attempt_is_recorded(randomized, personas):
    from audit.models import AuditEvent
    from datamanagement.models import Signature

    _, subject = randomized()
    with pytest.raises(WrongPassword):
        services.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password="nope")
    assert not Signature.objects.exists()
    assert AuditEvent.objects.filter(action="signature", summary__contains="wrong password").exists()


@pytest.mark.parametrize("who", ["coord001", "monitor", "datamanager", "inv002", "admin"])
def test_only_the_sites_investigator_signs(who, randomized, personas):
    _, subject = randomized()
    with pytest.raises(PermissionDenied):
        services.signature_sign(user=personas[who], subject=subject, scope="casebook", password=PASSWORD)


def test_change_after_signing_breaks_the_signature_and_asks_for_a_new_one(randomized, personas, client_for):
    screening, subject = randomized()
    casebook = services.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password=PASSWORD)
    visit = services.signature_sign(user=personas["inv001"], subject=subject, scope="visit", visit="V0",
                                    password=PASSWORD)
    update_screening(screening, user=personas["coord001"], aspects=7, reason="CT re-read")
    casebook.refresh_from_db()
    visit.refresh_from_db()
    assert not casebook.valid and not visit.valid
    assert "ASPECTS: 8 → 7" in casebook.broken_reason
    body = client_for("inv001").get(f"/data/subjects/{subject.pk}/").content.decode()
    assert "Signature broken — a new signature is needed" in body and "Sign again" in body
    again = services.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password=PASSWORD)
    assert again.valid and again.signed_at > casebook.signed_at


# --- Locks ------------------------------------------------------------------------------------

def test_locked_form_refuses_writes_at_service_level(screening, personas):
    services.lock_form(user=personas["datamanager"], instance=screening, reason="cleaned")
    with pytest.raises(DataLocked):
        update_screening(screening, user=personas["coord001"], aspects=7, reason="late change")
    screening.refresh_from_db()
    assert screening.aspects == 8


def test_locked_form_refuses_writes_in_the_database_even_outside_the_services(screening, personas):
    from eligibility.models import Screening

    services.lock_form(user=personas["datamanager"], instance=screening, reason="cleaned")
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        Screening.objects.filter(pk=screening.pk).update(aspects=3)  # e.g. the admin site or a shell
    assert "datamanagement_locked" in str(excinfo.value)


def test_database_lock_refuses_every_form_for_everyone(screening, make_screening, personas):
    from eligibility.models import Screening

    services.lock_database(user=personas["datamanager"], reason="final analysis")
    with pytest.raises(DataLocked):
        make_screening()
    with pytest.raises(DatabaseError), transaction.atomic():
        Screening.objects.filter(pk=screening.pk).update(age_years=30)


def test_locked_subject_refuses_changes_to_its_forms(randomized, personas):
    screening, subject = randomized()
    services.lock_subject(user=personas["datamanager"], subject=subject)
    with pytest.raises(DataLocked):
        update_screening(screening, user=personas["coord001"], aspects=7, reason="x")


def test_locked_data_over_http_is_refused_for_everyone(screening, personas, client_for):
    services.lock_form(user=personas["datamanager"], instance=screening)
    r = client_for("coord001").post(f"/data/crf/SCREENING/{screening.pk}/edit/aspects/",
                                    {"value": "6", "reason": "x"})
    assert r.status_code in (403, 422)
    r = client_for("monitor").post(f"/data/crf/SCREENING/{screening.pk}/query/", {"field_name": "aspects", "text": "?"},
                                   follow=True)
    assert "is locked" in r.content.decode()
    screening.refresh_from_db()
    assert screening.aspects == 8
    # the administrator has no way to edit clinical data either
    assert client_for("admin").post(f"/data/crf/SCREENING/{screening.pk}/edit/aspects/",
                                    {"value": "6", "reason": "x"}).status_code == 404


def test_unlock_needs_a_reason_and_is_audited_then_writes_work_again(screening, personas):
    from audit.models import AuditEvent

    lock = services.lock_form(user=personas["datamanager"], instance=screening)
    with pytest.raises(LockError):
        services.lock_release(user=personas["datamanager"], lock=lock, reason=" ")
    services.lock_release(user=personas["datamanager"], lock=lock, reason="query resolution needs a correction")
    event = AuditEvent.objects.filter(action="lock", summary__startswith="Unlocked").get()
    assert event.reason == "query resolution needs a correction" and event.actor == personas["datamanager"]
    update_screening(screening, user=personas["coord001"], aspects=7, reason="correction after unlock")
    screening.refresh_from_db()
    assert screening.aspects == 7


@pytest.mark.parametrize("who", ["coord001", "inv001", "monitor", "statistician", "admin"])
def test_only_data_managers_lock(who, screening, personas):
    with pytest.raises(PermissionDenied):
        services.lock_form(user=personas[who], instance=screening)


def test_double_lock_is_refused_plainly(screening, personas):
    services.lock_form(user=personas["datamanager"], instance=screening)
    with pytest.raises(LockError):
        services.lock_form(user=personas["datamanager"], instance=screening)


def test_locks_page_locks_and_unlocks_the_database(client_for):
    from datamanagement.locks import database_locked

    dm = client_for("datamanager")
    assert dm.post("/data/locks/", {"action": "lock_database", "reason": "DB lock for analysis"}).status_code == 302
    assert database_locked()
    from datamanagement.models import Lock

    lock = Lock.objects.get(active=True)
    dm.post("/data/locks/", {"action": "unlock", "lock": lock.pk, "reason": ""})
    assert database_locked()  # no reason, no unlock
    dm.post("/data/locks/", {"action": "unlock", "lock": lock.pk, "reason": "reopened for a late AE"})
    assert not database_locked()


def test_reason_for_change_is_required_after_first_save(screening, personas):
    from datamanagement.exceptions import ReasonRequired
    from tests.datamanagement.conftest import save_crf

    with pytest.raises(ReasonRequired):
        save_crf(screening, user=personas["coord001"], aspects=Decimal("7"))
    fresh, write = save_crf(screening, user=personas["coord001"], aspects=7, reason="re-read")
    assert write.changed == {"aspects": (8, 7)}


def test_every_registered_crf_table_carries_the_lock_trigger():
    from django.db import connection

    from core import crf
    from datamanagement.locks import TRIGGER_NAME

    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE t.tgname = %s", [TRIGGER_NAME])
        guarded = {row[0] for row in cursor.fetchall()}
    tables = {c.model._meta.db_table for c in crf.all_crfs()}
    assert len(tables) >= 10 and tables <= guarded
