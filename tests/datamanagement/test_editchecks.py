"""Each edit check of SPEC §8 / issue 7: hard checks refuse naming field and rule, soft
checks save and open a query (a protocol deviation where the protocol says so)."""

import datetime as dt
from decimal import Decimal

import pytest

from datamanagement import editchecks as ec

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


# --- NIHSS item ranges (hard) ---------------------------------------------------------------

@pytest.mark.parametrize("item,value", [("1a", 3), ("1b", 2), ("5a", 4), ("5a", "UN"), ("10", "UN"), ("11", 0)])
def test_nihss_item_at_its_maximum_or_untestable_where_allowed_passes(item, value):
    assert ec.run("SCREENING", {"nihss_items": {item: value}}).hard == []


@pytest.mark.parametrize("item,value,allowed", [("1a", 4, "0–3"), ("5b", 5, "0–4 or UN"), ("9", -1, "0–3")])
def test_nihss_item_above_its_range_is_refused_naming_item_and_rule(item, value, allowed):
    result = ec.run("SCREENING", {"nihss_items": {item: value}})
    [failure] = result.hard
    assert failure.field == "nihss_items"
    assert f"NIHSS item {item}" in failure.message and allowed in failure.message
    assert "NIHSS item within its range" in failure.rule


def test_nihss_untestable_refused_for_an_item_that_does_not_allow_it():
    [failure] = ec.run("SCREENING", {"nihss_items": {"1a": "UN"}}).hard
    assert "'UN' is not allowed" in failure.message


@pytest.mark.parametrize("code,prefix", [("V2_24H", "nihss"), ("V3_48H", "before"), ("V3_48H", "worse"),
                                         ("V4_DAY7", "nihss")])
def test_nihss_item_fields_of_follow_up_forms_are_range_checked(code, prefix):
    assert ec.run(code, {f"{prefix}_i1a": 3, f"{prefix}_i5a": 4}).hard == []
    [failure] = ec.run(code, {f"{prefix}_i1a": 4}).hard
    assert failure.field == f"{prefix}_i1a" and "allowed 0–3, found 4" in failure.message


# --- Date order: last known well ≤ puncture ≤ randomization ≤ reperfusion (hard) -------------

def test_puncture_before_last_known_well_is_refused():
    data = {"last_known_well": T0, "arterial_puncture_at": T0 - dt.timedelta(minutes=1)}
    [failure] = ec.run("SCREENING", data).hard
    assert failure.field == "arterial_puncture_at" and failure.check == "TIME_ORDER"
    assert "before last known well" in failure.message


def test_equal_times_respect_the_order():
    data = {"last_known_well": T0, "arterial_puncture_at": T0}
    assert ec.run("SCREENING", data, ec.Context(randomized_at=T0)).hard == []


def test_reperfusion_before_randomization_is_refused_on_the_procedure_form():
    ctx = ec.Context(randomized_at=T0, baseline={"last_known_well": T0 - dt.timedelta(hours=5),
                                                 "arterial_puncture_at": T0 - dt.timedelta(hours=1)})
    [failure] = ec.run("V1_PROCEDURE", {"first_reperfusion_at": T0 - dt.timedelta(minutes=5)}, ctx).hard
    assert failure.field == "first_reperfusion_at" and "before randomization" in failure.message
    assert ec.run("V1_PROCEDURE", {"first_reperfusion_at": T0}, ctx).hard == []


def test_randomization_before_puncture_is_reported_on_the_screening_puncture():
    data = {"last_known_well": T0 - dt.timedelta(hours=3), "arterial_puncture_at": T0 + dt.timedelta(minutes=1)}
    [failure] = ec.run("SCREENING", data, ec.Context(randomized_at=T0)).hard
    assert failure.field == "arterial_puncture_at" and "randomization" in failure.message


# --- Day 90 outside its window (soft) --------------------------------------------------------

@pytest.mark.parametrize("day,fails", [(82, True), (83, False), (90, False), (97, False), (98, True)])
def test_day90_window_is_day_83_to_97_in_the_site_zone(day, fails):
    # T0 at 23:30 in Shanghai is already the next local day in UTC terms: day 0 is the local date.
    t0 = dt.datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 23:30 Asia/Shanghai, 10 March
    assessed = dt.date(2026, 3, 10) + dt.timedelta(days=day)
    ctx = ec.Context(randomized_at=t0, site_time_zone="Asia/Shanghai")
    result = ec.run("V5_DAY90", {"assessed_on": assessed}, ctx)
    assert result.hard == []
    assert bool(result.soft) is fails
    if fails:
        assert f"day {day}" in result.soft[0].message and result.soft[0].severity == ec.SOFT


# --- Discharge mRS better than pre-stroke mRS (soft) -----------------------------------------

def test_discharge_mrs_better_than_prestroke_opens_a_soft_query():
    ctx = ec.Context(baseline={"prestroke_mrs": 1})
    [failure] = ec.run("V4_DAY7", {"mrs_discharge": 0}, ctx).soft
    assert failure.field == "mrs_discharge" and "better than the pre-stroke mRS" in failure.message
    assert ec.run("V4_DAY7", {"mrs_discharge": 1}, ctx).soft == []


def test_mrs_outside_0_6_is_hard():
    [failure] = ec.run("V5_DAY90", {"mrs": 7}).hard
    assert failure.field == "mrs" and "0–6" in failure.message


# --- Lab later breaching an eligibility threshold → protocol deviation (soft) ----------------

@pytest.mark.parametrize("lab,value,breach", [
    ("platelets", "99", True), ("platelets", "100", False),
    ("aptt", "50.1", True), ("aptt", "50", False),
    ("inr", "2.01", True), ("inr", "2.0", False),
    ("gfr", "29.9", True), ("gfr", "30", False),
])
def test_lab_arriving_after_enrollment_beyond_threshold_is_a_deviation(lab, value, breach):
    ctx = ec.Context(enrolled=True, previous={lab: None})
    result = ec.run("SCREENING", {lab: Decimal(value)}, ctx)
    assert bool(result.soft) is breach
    if breach:
        assert result.soft[0].deviation and "protocol deviation" in result.soft[0].message


def test_creatinine_is_compared_in_the_unit_entered():
    ctx = ec.Context(enrolled=True, previous={"creatinine": None})
    assert ec.run("SCREENING", {"creatinine": Decimal("2.6"), "creatinine_unit": "mg/dL"}, ctx).soft
    assert not ec.run("SCREENING", {"creatinine": Decimal("220"), "creatinine_unit": "umol/L"}, ctx).soft


def test_lab_breach_before_enrollment_is_not_a_deviation():
    ctx = ec.Context(enrolled=False, previous={"platelets": None})
    assert ec.run("SCREENING", {"platelets": Decimal("50")}, ctx).soft == []


# --- Through the real services ---------------------------------------------------------------

@pytest.mark.django_db
def test_pending_lab_later_breaching_opens_a_deviation_query(personas, sites, allocation_list):
    from datamanagement.models import Query
    from eligibility.services import screening_confirm
    from randomization.services import subject_randomize
    from tests.datamanagement.conftest import update_screening
    from tests.factories import make_screening

    inv = personas["inv001"]
    screening = make_screening(site=sites["001"], coordinator=inv, platelets="pending", lab_pending_attested=True)
    screening = screening_confirm(screening=screening, user=inv)
    subject_randomize(screening=screening, user=personas["coord001"])
    update_screening(screening, user=personas["coord001"], platelets=Decimal("80"), reason="lab result arrived")
    # (The pending lab itself opened a LAB_PENDING query at screening; this is the breach one.)
    query = Query.objects.get(crf_code="SCREENING", object_id=screening.pk, check_code="LAB_BREACH_PLATELETS")
    assert query.field_name == "platelets" and query.protocol_deviation
    assert query.origin == "edit_check" and query.opened_by is None and query.status == "open"
    assert "EX3" in query.text
    # and the deviation is filed in the subject's casebook (follow-up's deviation form)
    from followup.models import ProtocolDeviation

    deviation = ProtocolDeviation.objects.get(subject__number=query.object_label)
    assert deviation.category == "lab" and "EX3" in deviation.description


@pytest.mark.django_db
def test_soft_check_opens_one_query_however_often_the_value_is_saved(randomized, personas):
    from datamanagement.models import Query
    from tests.datamanagement.conftest import update_screening

    screening, _ = randomized()
    update_screening(screening, user=personas["coord001"], platelets=Decimal("80"), reason="corrected")
    update_screening(screening, user=personas["coord001"], platelets=Decimal("70"), reason="re-measured")
    assert Query.objects.filter(crf_code="SCREENING", object_id=screening.pk, field_name="platelets").count() == 1


@pytest.mark.django_db
def test_hard_check_refuses_the_save_and_nothing_is_stored(screening, personas):
    from core.exceptions import HardCheckFailed
    from tests.datamanagement.conftest import save_crf

    with pytest.raises(HardCheckFailed) as excinfo:
        save_crf(screening, user=personas["coord001"], reason="x", nihss_items={"1a": 9})
    assert "nihss_items" in excinfo.value.by_field()
    screening.refresh_from_db()
    assert screening.nihss_items["1a"] == 1


@pytest.mark.django_db
def test_hard_check_on_http_names_field_and_rule_and_keeps_input(screening, client_for):
    client = client_for("coord001")
    url = f"/data/crf/SCREENING/{screening.pk}/edit/prestroke_mrs/"
    response = client.post(url, {"value": "7", "reason": "per source"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "mRS" in body and "0" in body and "5" in body  # field and its range named
    assert 'value="7"' in body and 'value="per source"' in body  # what the user typed is kept
    screening.refresh_from_db()
    assert screening.prestroke_mrs == 0
