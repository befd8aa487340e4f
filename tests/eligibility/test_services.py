import pytest
from django.core.exceptions import PermissionDenied

from core.exceptions import HardCheckFailed as ScreeningInvalid
from core.exceptions import ReasonRequired as ReasonForChangeRequired
from core.exceptions import StaleVersion as ScreeningStale
from eligibility.exceptions import ScreeningNotEligible
from eligibility.models import Screening
from eligibility.services import screening_confirm, screening_create, screening_update
from tests.factories import eligible_screening_data, make_confirmed_screening

pytestmark = pytest.mark.django_db


def test_factory_confirmed_screening_is_eligible_and_confirmed(personas, sites):
    s = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                 investigator=personas["inv001"])
    s.refresh_from_db()
    assert s.number == "001-S0001"
    assert s.verdict_status == "eligible"
    assert s.confirmed_by == personas["inv001"] and s.confirmed_at is not None
    assert s.circulation == "anterior" and s.nihss_baseline == 14
    assert s.passes.filter(active=True).count() == 3
    assert s.outcome == "open"


def test_screening_numbers_follow_site_sequence(personas, sites):
    a = screening_create(site=sites["001"], user=personas["coord001"], data={})
    b = screening_create(site=sites["001"], user=personas["coord001"], data={})
    c = screening_create(site=sites["002"], user=personas["coord002"], data={})
    assert [a.number, b.number, c.number] == ["001-S0001", "001-S0002", "002-S0001"]
    assert a.verdict_status == "incomplete"


def test_coordinator_cannot_confirm(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data())
    with pytest.raises(PermissionDenied):
        screening_confirm(screening=s, user=personas["coord001"])
    assert Screening.objects.get(pk=s.pk).confirmed_at is None


def test_other_site_investigator_cannot_confirm(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data())
    with pytest.raises(PermissionDenied):
        screening_confirm(screening=s, user=personas["inv002"])


def test_ineligible_cannot_be_confirmed(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(age_years=17))
    with pytest.raises(ScreeningNotEligible, match="IN1"):
        screening_confirm(screening=s, user=personas["inv001"])


def test_impossible_age_refused_naming_field(personas, sites):
    with pytest.raises(ScreeningInvalid) as exc:
        screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(age_years=250))
    assert "age_years" in exc.value.errors and "0–120" in exc.value.errors["age_years"]
    assert not Screening.objects.exists()


def test_stale_version_refused(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data={"age_years": 50})
    screening_update(screening=s, user=personas["coord001"], data={"prestroke_mrs": 1}, version=1)
    with pytest.raises(ScreeningStale):
        screening_update(screening=s, user=personas["coord001"], data={"sex": "male"}, version=1)


def test_changing_a_saved_value_needs_reason_filling_blank_does_not(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data={"age_years": 50})
    s = screening_update(screening=s, user=personas["coord001"], data={"prestroke_mrs": 1}, version=1)
    with pytest.raises(ReasonForChangeRequired):
        screening_update(screening=s, user=personas["coord001"], data={"age_years": 51}, version=s.version)
    s = screening_update(screening=s, user=personas["coord001"], data={"age_years": 51},
                         version=s.version, reason="transcription error")
    assert s.age_years == 51
    event = s.events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["reason"] == "transcription error"


def test_zero_and_no_are_answers_not_blanks(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data={"age_years": 50})
    s = screening_update(screening=s, user=personas["coord001"], version=1,
                         data={"prestroke_mrs": 0, "ich_on_imaging": False})
    assert s.version == 2 and s.prestroke_mrs == 0 and s.ich_on_imaging is False
    with pytest.raises(ReasonForChangeRequired):
        screening_update(screening=s, user=personas["coord001"], version=2, data={"ich_on_imaging": True})


def test_pending_lab_under_attestation_opens_a_query_until_the_result_arrives(personas, sites):
    from datamanagement.models import Query

    s = screening_create(site=sites["001"], user=personas["inv001"],
                         data=eligible_screening_data(platelets="pending", lab_pending_attested=True))
    assert s.verdict_status == "eligible"
    query = Query.objects.get(object_id=s.pk, field_name="platelets")
    assert query.check_code == "LAB_PENDING_PLATELETS" and "attestation" in query.text
    s = screening_update(screening=s, user=personas["coord001"], version=s.version, data={"platelets": "180"})
    assert s.platelets == 180 and not s.platelets_pending
    assert query.messages.filter(text__contains="no longer fails").exists()


def test_unusual_value_opens_a_query(personas, sites):
    from datamanagement.models import Query

    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(age_years=104))
    assert Query.objects.filter(object_id=s.pk, field_name="age_years", check_code="UNUSUAL_VALUE").exists()
