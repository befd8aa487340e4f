"""The single write path's statements (issue 17 benchmark): an edit of a saved form reads the
row once, lets the lock trigger answer for the locks, and does its SDV / signature / query
upkeep in one statement — with the same outcomes as before."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from datamanagement import services
from datamanagement.exceptions import DataLocked, HardCheckFailed
from datamanagement.models import Query, Signature, SourceVerification
from followup import services as fu
from tests.conftest import PASSWORD
from tests.integrity.conftest import nihss

pytestmark = pytest.mark.django_db


def _v2(subject, user, version=None, reason="", **values):
    data = {"assessed_at": subject.randomized_at + timedelta(hours=24), **nihss(), **values}
    return fu.visit24h_save(subject=subject, user=user, data=data, version=version, reason=reason)


def test_an_edit_reads_no_lock_row_and_does_its_upkeep_in_one_statement(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=26))
    coord = personas["coord001"]
    v2 = _v2(subject, coord)
    services.sdv_mark(user=personas["monitor"], instance=v2)
    services.signature_sign(user=personas["inv001"], subject=subject, scope="casebook", password=PASSWORD)
    with CaptureQueriesContext(connection) as ctx:
        v2 = _v2(subject, coord, version=v2.version, reason="re-examined", nihss_i1a=2)
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert not [s for s in sqls if "FROM \"datamanagement_lock\"" in s]
    assert len([s for s in sqls if "edc_crf_upkeep(" in s]) == 1  # SDV, signatures and query notes at once
    assert len(sqls) <= 5, sqls  # (savepoint or BEGIN), row lock, UPDATE, upkeep, (release or COMMIT)
    # the outcomes of the upkeep
    cleared = SourceVerification.objects.get(crf_code="V2_24H", object_id=v2.pk, field_name="nihss_i1a")
    assert not cleared.active and "from 1 to 2" in cleared.cleared_reason and "re-examined" in cleared.cleared_reason
    assert SourceVerification.objects.filter(crf_code="V2_24H", object_id=v2.pk, active=True).count() > 10
    assert not Signature.objects.get(subject=subject).valid


def test_a_locked_form_is_refused_by_the_trigger_with_the_lock_in_words(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=26))
    coord = personas["coord001"]
    v2 = _v2(subject, coord)
    lock = services.lock_form(user=personas["datamanager"], instance=v2)
    with pytest.raises(DataLocked) as excinfo:
        _v2(subject, coord, version=v2.version, reason="late change", nihss_i1a=2)
    message = excinfo.value.errors["lock"]
    assert "V2_24H" in message and f"{lock.locked_at:%Y-%m-%d %H:%M}" in message
    assert excinfo.value.lock.pk == lock.pk and excinfo.value.lock.level == "form"
    v2.refresh_from_db()
    assert v2.nihss_i1a == 1


@pytest.mark.parametrize("values, unlocked_refusal", [
    ({"nihss_i1a": 9}, HardCheckFailed),  # an impossible item score
    ({"assessed_at": timezone.now() + timedelta(days=3)}, HardCheckFailed),  # out of bounds: in the future
])
def test_a_locked_form_says_locked_before_any_other_refusal(make_subject, personas, values, unlocked_refusal):
    """(The lock is checked by the trigger during the UPDATE; a refusal before it must still
    name the lock first, as it did when the locks were read before every save.)"""
    reason = "late change"
    subject = make_subject(timezone.now() - timedelta(hours=26))
    coord = personas["coord001"]
    v2 = _v2(subject, coord)
    lock = services.lock_subject(user=personas["datamanager"], subject=subject, reason="complete")
    with pytest.raises(DataLocked):
        _v2(subject, coord, version=v2.version, reason=reason, **values)
    services.lock_release(user=personas["datamanager"], lock=lock, reason="reopened for a query")
    with pytest.raises(unlocked_refusal):  # the same save, unlocked: the other refusal
        _v2(subject, coord, version=v2.version, reason=reason, **values)


def test_a_change_that_resolves_an_edit_check_notes_it_on_the_query(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=50))
    coord = personas["coord001"]
    late = subject.randomized_at + timedelta(hours=40)  # V2 window T0+18 h … T0+30 h
    v2 = _v2(subject, coord, assessed_at=late)
    q = Query.objects.get(crf_code="V2_24H", check_code="VISIT_WINDOW")
    _v2(subject, coord, version=v2.version, reason="time corrected",
        assessed_at=subject.randomized_at + timedelta(hours=24))
    note = q.messages.get(kind="comment")
    assert note.text == "The edit check no longer fails after the change of this field."
    assert note.text_msgid == note.text  # shown in the reader's language (datamanagement.messages)
