"""Hard edit checks (impossible values refused, naming field and rule). Pure."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from eligibility.validation import hard_errors
from tests.factories import eligible_screening_data as data


def errors(**overrides):
    return hard_errors(data(**overrides), timezone.now())


def test_complete_eligible_data_has_no_errors():
    assert errors() == {}


def test_age_250_refused_naming_field_and_range():
    e = errors(age_years=250)
    assert list(e) == ["age_years"]
    assert "Age" in e["age_years"] and "250" in e["age_years"] and "0–120" in e["age_years"]


def test_aspects_11_refused():
    e = errors(aspects=11)
    assert list(e) == ["aspects"] and "0–10" in e["aspects"]


def test_nihss_item_out_of_range_and_un_where_not_allowed():
    items = dict(data()["nihss_items"], **{"1a": 4, "2": "UN", "5a": "UN"})
    e = errors(nihss_items=items)
    assert set(e) == {"nihss_1a", "nihss_2"}


def test_puncture_before_lkw_refused():
    puncture = data()["arterial_puncture_at"]
    e = errors(last_known_well=puncture + timedelta(minutes=1))
    assert list(e) == ["arterial_puncture_at"] and "before last known well" in e["arterial_puncture_at"]


def test_time_in_the_future_refused():
    e = errors(consent_at=timezone.now() + timedelta(hours=1))
    assert list(e) == ["consent_at"] and "future" in e["consent_at"]
    e = errors(arterial_puncture_at=timezone.now() + timedelta(hours=1))
    assert "arterial_puncture_at" in e


def test_creatinine_without_unit_refused():
    e = errors(creatinine=Decimal("90"), creatinine_unit=None)
    assert list(e) == ["creatinine_unit"] and "µmol/L" in e["creatinine_unit"]


def test_creatinine_range_depends_on_unit():
    assert errors(creatinine=Decimal("90"), creatinine_unit="mg/dL") == {"creatinine": errors(
        creatinine=Decimal("90"), creatinine_unit="mg/dL")["creatinine"]}
    assert errors(creatinine=Decimal("90"), creatinine_unit="umol/L") == {}


def test_pending_lab_is_not_an_error():
    assert errors(platelets="pending", creatinine="pending", creatinine_unit=None) == {}


def test_more_decimals_than_stored_refused_so_no_silent_rounding_across_a_threshold():
    e = errors(inr=Decimal("2.004"))
    assert list(e) == ["inr"] and "2 decimal places" in e["inr"]
    assert errors(inr=Decimal("2.00"), aptt=Decimal("50.0")) == {}
