import re

import pytest
from django.core import mail

from audit.models import AuditAction, AuditEvent
from core.models import Notification
from eligibility.models import ScreeningOutcome
from randomization.exceptions import (
    AllocationListExhausted,
    AlreadyRandomized,
    NoConsent,
    NotConfirmed,
    NotEligible,
    NotPermitted,
)
from randomization.models import Allocation, AllocationEntry
from randomization.services import subject_randomize

pytestmark = pytest.mark.django_db

ARM_WORDS = ("STENTING", "CONTINUED_MT", "Stenting", "Continued thrombectomy")


def test_randomize_creates_subject_takes_first_entry_and_marks_screening(personas, allocation_list, confirmed):
    screening = confirmed("001")
    allocation = subject_randomize(screening=screening, user=personas["coord001"])
    first = AllocationEntry.objects.get(list=allocation_list, stratum="001-anterior", sequence=1)
    assert allocation.created is True
    assert allocation.entry_id == first.pk and allocation.arm == first.arm
    assert allocation.stratum == "001-anterior"
    assert allocation.subject.number == "001-0001"
    assert allocation.subject.randomized_at == allocation.randomized_at
    screening.refresh_from_db()
    assert screening.outcome == ScreeningOutcome.RANDOMIZED
    first.refresh_from_db()
    assert first.used and first.used_at is not None
    allocation_list.refresh_from_db()
    assert allocation_list.frozen


def test_subject_numbers_are_per_site_and_sequential(personas, allocation_list, confirmed):
    numbers = [subject_randomize(screening=confirmed("001"), user=personas["inv001"]).subject.number,
               subject_randomize(screening=confirmed("002"), user=personas["coord002"]).subject.number,
               subject_randomize(screening=confirmed("001", occlusion_site="BA", aspects=None, pc_aspects=8),
                                 user=personas["coord001"]).subject.number]
    assert numbers == ["001-0001", "002-0001", "001-0002"]


def test_posterior_screening_uses_posterior_stratum(personas, allocation_list, confirmed):
    allocation = subject_randomize(screening=confirmed("001", occlusion_site="BA", aspects=None, pc_aspects=8),
                                   user=personas["coord001"])
    assert allocation.stratum == "001-posterior"
    assert allocation.entry.stratum == "001-posterior" and allocation.entry.sequence == 1


def test_randomization_is_audited_as_revealing_the_allocation(personas, allocation_list, confirmed):
    allocation = subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    event = AuditEvent.objects.get(action=AuditAction.RANDOMIZED)
    assert event.actor == personas["coord001"] and event.reveals_allocation
    assert event.object_id == str(allocation.pk) and allocation.subject.number in event.summary
    assert not any(w in event.summary + str(event.detail) for w in ARM_WORDS)


def test_double_submit_returns_the_same_allocation(personas, allocation_list, confirmed):
    screening = confirmed("001")
    first = subject_randomize(screening=screening, user=personas["coord001"])
    again = subject_randomize(screening=screening, user=personas["inv001"])
    assert again.pk == first.pk and again.created is False
    assert Allocation.objects.count() == 1
    assert AllocationEntry.objects.filter(used=True).count() == 1


def test_explicit_rerandomization_is_refused_with_the_existing_number(personas, allocation_list, confirmed):
    screening = confirmed("001")
    first = subject_randomize(screening=screening, user=personas["coord001"])
    with pytest.raises(AlreadyRandomized, match=f"already randomized as subject {first.subject.number}"):
        subject_randomize(screening=screening, user=personas["coord001"], allow_existing=False)


def test_not_eligible_is_refused_clearly(personas, allocation_list):
    from tests.factories import make_screening

    screening = make_screening(site=personas["coord001"].memberships.first().site, coordinator=personas["coord001"],
                               age_years=17)
    with pytest.raises(NotEligible, match=r"not eligible: the verdict is ineligible \(IN1\); it must be eligible"):
        subject_randomize(screening=screening, user=personas["coord001"])
    assert not Allocation.objects.exists()


def test_not_confirmed_is_refused_clearly(personas, sites, allocation_list):
    from tests.factories import make_screening

    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    with pytest.raises(NotConfirmed, match="not yet confirmed by an investigator"):
        subject_randomize(screening=screening, user=personas["coord001"])


def test_no_consent_is_refused_clearly(personas, allocation_list, confirmed):
    from eligibility.models import Screening

    screening = confirmed("001")
    # Consent withdrawn after confirmation (recorded by the site): the service re-checks it.
    Screening.objects.filter(pk=screening.pk).update(consent="none")
    with pytest.raises(NoConsent, match=r"no consent \(found: not obtained\)"):
        subject_randomize(screening=screening, user=personas["coord001"])


def test_other_site_user_is_refused_clearly(personas, allocation_list, confirmed):
    screening = confirmed("001")
    with pytest.raises(NotPermitted, match="site 001"):
        subject_randomize(screening=screening, user=personas["coord002"])
    for name in ("assessor001", "monitor", "datamanager", "statistician", "admin"):
        with pytest.raises(NotPermitted):
            subject_randomize(screening=screening, user=personas[name])
    assert not Allocation.objects.exists()


def test_closed_screening_is_refused(personas, allocation_list, confirmed):
    from eligibility.services import screening_close

    screening = confirmed("001")
    screening_close(screening=screening, user=personas["coord001"], reason="other", text="patient transferred")
    with pytest.raises(NotEligible, match="is closed"):
        subject_randomize(screening=screening, user=personas["coord001"])


def test_exhausted_stratum_gives_clear_error_and_alerts_statistician(personas, sites, confirmed,
                                                                   django_capture_on_commit_callbacks):
    from randomization.services import allocation_list_generate

    lst = allocation_list_generate(user=personas["statistician"], seed="tiny", entries_per_stratum=2, site_codes=["001"])
    for _ in range(lst.entries.filter(stratum="001-anterior").count()):  # 2 or 4: whole blocks
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    mail.outbox.clear()
    third = confirmed("001")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(AllocationListExhausted) as excinfo:
        subject_randomize(screening=third, user=personas["coord001"])
    message = str(excinfo.value)
    assert "no allocation is left for stratum 001-anterior" in message and "statistician has been alerted" in message
    assert not any(w in message for w in ARM_WORDS)
    third.refresh_from_db()
    assert third.outcome == ScreeningOutcome.OPEN
    note = Notification.objects.get(user=personas["statistician"], key__contains="empty")
    assert "001-anterior" in note.title
    assert [m.to for m in mail.outbox] == [[personas["statistician"].email]]


def test_site_without_list_is_exhausted_not_500(personas, sites, confirmed):
    from randomization.services import allocation_list_generate

    allocation_list_generate(user=personas["statistician"], seed="only-002", entries_per_stratum=4, site_codes=["002"])
    with pytest.raises(AllocationListExhausted):
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])


def test_low_stratum_alert_once_below_ten(personas, sites, confirmed, django_capture_on_commit_callbacks):
    from randomization.services import allocation_list_generate

    lst = allocation_list_generate(user=personas["statistician"], seed="low", entries_per_stratum=12, site_codes=["001"])
    total = lst.entries.filter(stratum="001-anterior").count()  # 12 (whole blocks)
    mail.outbox.clear()
    used = 0
    while total - used > 10:
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])
        used += 1
    assert not Notification.objects.filter(key__startswith="stratum-low").exists()  # 10 left: no alert yet
    with django_capture_on_commit_callbacks(execute=True):
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])  # 9 left
        subject_randomize(screening=confirmed("001"), user=personas["coord001"])  # 8 left: no second alert
    notes = Notification.objects.filter(key__startswith="stratum-low", user=personas["statistician"])
    assert notes.count() == 1 and "9 entries left" in notes.get().title
    statistician_mails = [m for m in mail.outbox if m.to == [personas["statistician"].email]]
    assert len(statistician_mails) == 1


def test_confirmation_mail_goes_to_site_investigators_after_commit(personas, allocation_list, confirmed,
                                                                   django_capture_on_commit_callbacks):
    screening = confirmed("001")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        allocation = subject_randomize(screening=screening, user=personas["coord001"])
    assert mail.outbox == []  # nothing is sent before the commit
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [[personas["inv001"].email]]
    body = mail.outbox[0].body
    assert allocation.subject.number in body and allocation.arm in body  # investigator is unblinded
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d Asia/Shanghai", body)
    # Running the task again sends nothing more.
    from randomization.tasks import send_randomization_confirmation

    assert send_randomization_confirmation(allocation.pk) == 0
    assert len(mail.outbox) == 1


def test_confirmation_mail_hides_arm_from_a_blinded_investigator(personas, sites, allocation_list, confirmed,
                                                                 django_capture_on_commit_callbacks):
    from core.roles import Role
    from tests.conftest import make_user

    make_user("inv001", Role.ASSESSOR, sites["002"])  # now blinded everywhere
    screening = confirmed("001")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        allocation = subject_randomize(screening=screening, user=personas["coord001"])
    body = mail.outbox[0].body
    assert allocation.subject.number in body and not any(w in body for w in ARM_WORDS)


def test_minimisation_method_allocates_without_list(personas, sites, confirmed):
    from randomization.models import TrialConfig
    from randomization.services import trial_config_update

    trial_config_update(user=personas["statistician"], method="minimisation", minimisation_p=0.8)
    allocations = [subject_randomize(screening=confirmed("001"), user=personas["coord001"]) for _ in range(6)]
    assert all(a.entry_id is None and a.method == "minimisation" for a in allocations)
    assert {a.factors["nihss_band"] for a in allocations} == {"6-15"}
    arms = [a.arm for a in allocations]
    # identical patients: minimisation keeps the counts within 2 of each other... with p=0.8
    assert abs(arms.count("STENTING") - arms.count("CONTINUED_MT")) <= 4
    assert all("scores" in a.minimisation_detail for a in allocations)
    assert TrialConfig.current().method == "minimisation"


def test_method_cannot_change_after_first_allocation(personas, allocation_list, confirmed):
    from randomization.exceptions import AllocationListError
    from randomization.services import trial_config_update

    subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    with pytest.raises(AllocationListError, match="cannot change once subjects have been randomized"):
        trial_config_update(user=personas["statistician"], method="minimisation", minimisation_p=0.8)


def test_allocations_are_append_only(personas, allocation_list, confirmed):
    from django.db import transaction

    allocation = subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    with pytest.raises(Exception, match="append_only"), transaction.atomic():
        Allocation.objects.filter(pk=allocation.pk).update(arm="STENTING" if allocation.arm != "STENTING" else "CONTINUED_MT")
    with pytest.raises(Exception, match="used_stays_used"), transaction.atomic():
        AllocationEntry.objects.filter(pk=allocation.entry_id).update(used=False)


# --- The hand-written statements of the hot path (randomization/sql.py) ----------------------


def test_returned_allocation_is_exactly_the_stored_rows(personas, allocation_list, confirmed):
    from core.models import Subject

    allocation = subject_randomize(screening=confirmed("002", occlusion_site="BA", aspects=None, pc_aspects=8),
                                   user=personas["inv002"])
    stored = Allocation.objects.select_related("subject").get(pk=allocation.pk)
    fields = ("screening_id", "subject_id", "entry_id", "method", "arm", "stratum", "factors",
              "minimisation_detail", "randomized_at", "randomized_by_id")
    assert {f: getattr(allocation, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    subject = Subject.objects.get(pk=allocation.subject_id)
    assert (allocation.subject.number, allocation.subject.site_id, allocation.subject.status,
            allocation.subject.randomized_at) == (subject.number, subject.site_id, subject.status,
                                                  subject.randomized_at)
    assert subject.number == "002-0001" and subject.created_at is not None
    assert allocation.factors == {"site": "002", "circulation": "posterior", **{
        k: v for k, v in allocation.factors.items() if k not in ("site", "circulation")}}


def test_audit_event_and_row_history_name_who_randomized(personas, allocation_list, confirmed):
    from core.models import Subject

    screening = confirmed("001")
    allocation = subject_randomize(screening=screening, user=personas["coord001"])
    event = AuditEvent.objects.get(action=AuditAction.RANDOMIZED)
    assert event.actor_username == "coord001" and event.site_id == allocation.subject.site_id
    assert event.object_type == "randomization.Allocation"
    assert event.summary == f"Screening {screening.number} randomized as subject {allocation.subject.number}"
    assert event.detail == {"screening": screening.number, "subject": allocation.subject.number,
                            "stratum": "001-anterior", "method": "blocks"}
    subject_event = Subject.pgh_event_model.objects.get(pgh_obj_id=allocation.subject_id)
    assert subject_event.pgh_label == "insert" and subject_event.pgh_context.metadata["user"] == personas["coord001"].pk
    screening_event = screening.events.order_by("-pgh_id").first()
    assert screening_event.outcome == ScreeningOutcome.RANDOMIZED
    assert screening_event.pgh_context.metadata["username"] == "coord001"


@pytest.mark.django_db(transaction=True)
def test_statements_are_prepared_again_in_a_new_database_session(personas, allocation_list, confirmed):
    from django.db import connection

    first = subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        assert {"randomization_lock_screening", "randomization_allocate"} <= {r[0] for r in cursor.fetchall()}
    connection.close()  # a new session: the prepared statements are gone with the old one
    second = subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    assert (first.subject.number, second.subject.number) == ("001-0001", "001-0002")
    assert second.entry.sequence == 2


def test_a_rolled_back_randomization_leaves_no_trace_and_no_gap(personas, allocation_list, confirmed):
    """When the transaction fails after the allocation statement ran (here the low-stratum
    check raises), the entry, the subject number and the audit event are all rolled back."""
    from unittest import mock

    from core.models import Subject

    screening = confirmed("001")
    with mock.patch("randomization.services.randomizing._check_stratum_supply", side_effect=RuntimeError("boom")), \
            mock.patch("randomization.services.randomizing.TrialConfig.current") as current:
        current.return_value.method, current.return_value.minimisation_p = "blocks", 0.8
        current.return_value.low_stratum_threshold = 10_000  # forces the supply check, which fails
        with pytest.raises(RuntimeError):
            subject_randomize(screening=screening, user=personas["coord001"])
    assert not Subject.objects.exists() and not AllocationEntry.objects.filter(used=True).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.RANDOMIZED).exists()
    allocation = subject_randomize(screening=screening, user=personas["coord001"])
    assert allocation.subject.number == "001-0001" and allocation.entry.sequence == 1


def test_a_locked_screening_form_is_refused_in_words_and_other_screenings_go_on(personas, allocation_list, confirmed):
    from core.exceptions import DataLocked
    from datamanagement.services import lock_form

    locked, other = confirmed("001"), confirmed("001")
    lock_form(user=personas["datamanager"], instance=locked, reason="source document review")
    with pytest.raises(DataLocked, match="Randomization is not possible now"):
        subject_randomize(screening=locked, user=personas["coord001"])
    locked.refresh_from_db()
    assert locked.outcome == ScreeningOutcome.OPEN and not Allocation.objects.exists()
    assert subject_randomize(screening=other, user=personas["coord001"]).subject.number == "001-0001"
