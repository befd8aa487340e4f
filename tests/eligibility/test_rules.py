"""The rules engine against SPEC §4, each boundary on both sides. Pure: no database."""

from datetime import timedelta
from decimal import Decimal

import pytest

from eligibility.rules import CODES, evaluate
from tests.factories import eligible_screening_data as data


def verdict(**overrides):
    return evaluate(data(**overrides))


def test_factory_data_is_eligible_without_warnings():
    v = verdict()
    assert v.status == "eligible", (v.failed, v.missing)
    assert v.failed == [] and v.missing == [] and v.warnings == []
    assert all(c.state == "met" for c in v.criteria)


def test_criteria_are_in_spec_order():
    assert CODES == [f"IN{i}" for i in range(1, 10)] + [f"EX{i}" for i in range(1, 11)]


def assert_boundary(eligible_overrides, ineligible_overrides, code):
    ok = verdict(**eligible_overrides)
    bad = verdict(**ineligible_overrides)
    assert ok.status == "eligible", (ok.failed, ok.missing)
    assert ok.criterion(code).state == "met"
    assert bad.status == "ineligible"
    assert bad.failed == [code]
    assert bad.criterion(code).state == "not_met"


def test_age_18_eligible_17_not():
    assert_boundary({"age_years": 18}, {"age_years": 17}, "IN1")


def test_prestroke_mrs_1_eligible_2_not():
    assert_boundary({"prestroke_mrs": 1}, {"prestroke_mrs": 2}, "IN2")


def _window(minutes):
    puncture = data()["arterial_puncture_at"]
    return {"arterial_puncture_at": puncture, "last_known_well": puncture - timedelta(minutes=minutes)}


def test_puncture_24h_0min_after_lkw_eligible_24h_1min_not():
    assert_boundary(_window(24 * 60), _window(24 * 60 + 1), "IN3")
    assert "24 h 1 min" in verdict(**_window(24 * 60 + 1)).criterion("IN3").reason


def test_seconds_are_ignored_at_the_24h_boundary():
    puncture = data()["arterial_puncture_at"]
    v = verdict(arterial_puncture_at=puncture + timedelta(seconds=40),
                last_known_well=puncture - timedelta(hours=24))
    assert v.criterion("IN3").state == "met"


def test_puncture_before_lkw_fails_in3():
    puncture = data()["arterial_puncture_at"]
    v = verdict(last_known_well=puncture + timedelta(minutes=5))
    assert v.criterion("IN3").state == "not_met"


def _nihss(total):
    items = {code: 0 for code in data()["nihss_items"]}
    items["1a"] = min(total, 3)
    items["5a"] = total - items["1a"]
    return {"nihss_items": items}


def test_nihss_6_eligible_5_not():
    assert_boundary(_nihss(6), _nihss(5), "IN4")
    assert verdict(**_nihss(6)).nihss_total == 6


def test_nihss_total_from_items_counts_un_as_zero_and_needs_explanation():
    items = dict(data()["nihss_items"], **{"5a": "UN"})  # was 3 → total 14 - 3 = 11
    v = verdict(nihss_items=items)
    assert v.nihss_total == 11
    assert v.status == "incomplete" and v.missing == ["nihss_un_reason"]
    v = verdict(nihss_items=items, nihss_un_reason="left arm amputation")
    assert v.status == "eligible" and v.nihss_total == 11


def test_nihss_typed_total_when_no_items():
    assert verdict(nihss_items={}, nihss_baseline=6).status == "eligible"
    assert verdict(nihss_items={}, nihss_baseline=5).failed == ["IN4"]


def test_missing_nihss_items_are_named():
    items = dict(data()["nihss_items"])
    del items["5b"], items["10"]
    v = verdict(nihss_items=items)
    assert v.status == "incomplete"
    assert v.missing == ["nihss_5b", "nihss_10"]
    assert v.nihss_total is None


def test_aspects_6_eligible_5_not():
    assert_boundary({"aspects": 6}, {"aspects": 5}, "IN5")


def test_pc_aspects_6_eligible_5_not_for_posterior():
    assert_boundary({"occlusion_site": "BA", "aspects": None, "pc_aspects": 6},
                    {"occlusion_site": "BA", "aspects": None, "pc_aspects": 5}, "IN5")


def test_anterior_ignores_pc_aspects_and_posterior_ignores_aspects():
    assert verdict(aspects=8, pc_aspects=2).status == "eligible"
    v = verdict(occlusion_site="VA_V4", aspects=8, pc_aspects=None)
    assert v.status == "incomplete" and v.missing == ["pc_aspects"]


@pytest.mark.parametrize("site, circulation", [
    ("ICA_intracranial", "anterior"), ("MCA_M1", "anterior"), ("VA_V4", "posterior"), ("BA", "posterior"),
])
def test_each_qualifying_occlusion_site_and_its_circulation(site, circulation):
    v = verdict(occlusion_site=site, aspects=7, pc_aspects=7)
    assert v.status == "eligible"
    assert v.circulation == circulation
    assert v.criterion("IN6").state == "met"


def test_other_occlusion_site_fails_in6_only():
    v = verdict(occlusion_site="other", aspects=8)
    assert v.status == "ineligible" and v.failed == ["IN6"]
    assert v.circulation is None


def test_evt_not_intended_fails_in7():
    assert verdict(evt_intended=False).failed == ["IN7"]


CA, SR, CO = "contact_aspiration", "stent_retriever", "combined"


def _passes(techniques, last_etici="1"):
    passes = [{"technique": t, "etici": "0"} for t in techniques]
    passes[-1]["etici"] = last_etici
    return {"passes": passes}


@pytest.mark.parametrize("n, eligible", [(2, False), (3, True), (5, True), (6, False)])
def test_pass_count_3_to_5(n, eligible):
    v = verdict(**_passes([CA, SR] + [CA] * (n - 2)))
    assert (v.status == "eligible") is eligible
    if not eligible:
        assert v.failed == ["IN8"]


@pytest.mark.parametrize("techniques, eligible", [
    ([CA, CA, CA], False),  # no stent retriever / combined pass
    ([SR, SR, SR], False),  # no contact aspiration
    ([CO, CO, CO], False),  # combined alone is not contact aspiration
    ([SR, CO, SR], False),
    ([CA, SR, SR], True),
    ([CA, CO, CO], True),
    ([SR, SR, CA], True),
    ([CA, CA, CO], True),
])
def test_technique_mix(techniques, eligible):
    v = verdict(**_passes(techniques))
    assert (v.status == "eligible") is eligible, v.criterion("IN8").reason


@pytest.mark.parametrize("etici, eligible", [("0", True), ("1", True), ("2a", False), ("2b50", False), ("3", False)])
def test_etici_after_last_pass(etici, eligible):
    v = verdict(**_passes([CA, SR, CO], last_etici=etici))
    assert (v.status == "eligible") is eligible


def test_etici_of_earlier_passes_does_not_matter():
    passes = [{"technique": CA, "etici": "2b67"}, {"technique": SR, "etici": "2a"},
              {"technique": SR, "etici": "1"}]
    assert verdict(passes=passes).status == "eligible"


def test_no_passes_is_missing_and_incomplete_pass_names_fields():
    v = verdict(passes=[])
    assert v.status == "incomplete" and v.missing == ["passes"]
    v = verdict(passes=[{"technique": CA, "etici": "0"}, {"technique": SR, "etici": None}])
    assert v.missing == ["passes[2].etici"]


def test_consent_none_fails_in9_blank_is_missing():
    assert verdict(consent="none").failed == ["IN9"]
    v = verdict(consent=None, consent_at=None)
    assert v.status == "incomplete" and v.missing == ["consent"]
    assert verdict(consent_at=None).missing == ["consent_at"]
    assert verdict(consent="legal_representative").status == "eligible"


@pytest.mark.parametrize("field, code", [
    ("ich_on_imaging", "EX1"), ("fpct_major_hemorrhage", "EX1"), ("gi_gu_bleeding_30d", "EX2"),
    ("major_surgery_14d", "EX2"), ("doac_48h", "EX3"), ("hit_history", "EX3"),
    ("pregnant_or_lactating", "EX4"), ("contrast_contraindication", "EX5"),
    ("nickel_titanium_allergy", "EX5"), ("life_expectancy_lt_6m", "EX6"),
    ("confounding_neuro_psych", "EX7"), ("tortuosity_prevents_delivery", "EX9"),
    ("unlikely_90d_followup", "EX10"),
])
def test_each_yes_no_exclusion(field, code):
    assert verdict(**{field: True}).failed == [code]
    v = verdict(**{field: None})
    assert v.status == "incomplete" and v.missing == [field]


def test_pregnancy_not_asked_for_male():
    assert verdict(sex="male", pregnant_or_lactating=None).status == "eligible"
    v = verdict(sex=None, pregnant_or_lactating=None)
    assert v.missing == ["sex"]


def test_platelets_100_eligible_99_not():
    assert_boundary({"platelets": Decimal("100")}, {"platelets": Decimal("99")}, "EX3")


def test_aptt_50_eligible_50_1_not():
    assert_boundary({"aptt": Decimal("50")}, {"aptt": Decimal("50.1")}, "EX3")


def test_inr_2_0_eligible_2_1_not():
    assert_boundary({"inr": Decimal("2.0")}, {"inr": Decimal("2.1")}, "EX3")


def test_floats_and_strings_compare_exactly_at_the_boundary():
    assert verdict(inr=2.0, aptt="50.0", platelets=100).status == "eligible"
    assert verdict(inr="2.01").failed == ["EX3"]


def test_gfr_30_eligible_29_not():
    assert_boundary({"gfr": Decimal("30")}, {"gfr": Decimal("29")}, "EX8")


def test_creatinine_220_umol_eligible_221_not():
    assert_boundary({"creatinine": Decimal("220"), "creatinine_unit": "umol/L"},
                    {"creatinine": Decimal("221"), "creatinine_unit": "umol/L"}, "EX8")


def test_creatinine_2_5_mgdl_eligible_2_6_not():
    assert_boundary({"creatinine": Decimal("2.5"), "creatinine_unit": "mg/dL"},
                    {"creatinine": Decimal("2.6"), "creatinine_unit": "mg/dL"}, "EX8")


def test_creatinine_is_compared_in_the_unit_entered_not_converted():
    # 2.5 mg/dL ≈ 221 µmol/L: converting first would exclude this patient.
    assert verdict(creatinine=Decimal("2.5"), creatinine_unit="mg/dL").status == "eligible"


def test_creatinine_without_unit_is_missing_the_unit():
    v = verdict(creatinine_unit=None)
    assert v.status == "incomplete" and v.missing == ["creatinine_unit"]


@pytest.mark.parametrize("lab", ["platelets", "aptt", "inr", "gfr", "creatinine"])
def test_pending_lab_without_attestation_is_incomplete(lab):
    v = verdict(**{lab: "pending"})
    assert v.status == "incomplete"
    assert v.missing == [lab]


@pytest.mark.parametrize("lab", ["platelets", "aptt", "inr", "gfr", "creatinine"])
def test_pending_lab_with_attestation_is_eligible_with_warning(lab):
    v = verdict(**{lab: "pending", "lab_pending_attested": True})
    assert v.status == "eligible"
    assert any(lab in w.lower() and "pending" in w for w in v.warnings)


def test_attestation_does_not_excuse_a_known_breach():
    v = verdict(platelets="pending", inr=Decimal("2.5"), lab_pending_attested=True)
    assert v.failed == ["EX3"]


def test_incomplete_names_every_missing_field_and_ineligible_every_failed_code():
    v = evaluate({"age_years": 40})
    assert v.status == "incomplete"
    for name in ("prestroke_mrs", "last_known_well", "arterial_puncture_at", "nihss_items",
                 "occlusion_site", "evt_intended", "passes", "consent", "platelets", "gfr",
                 "creatinine", "unlikely_90d_followup"):
        assert name in v.missing
    assert "age_years" not in v.missing
    v = verdict(age_years=17, prestroke_mrs=3, aspects=4, inr=Decimal("3"), gfr=Decimal("10"),
                unlikely_90d_followup=True)
    assert v.status == "ineligible"
    assert v.failed == ["IN1", "IN2", "IN5", "EX3", "EX8", "EX10"]


def test_failure_wins_over_missing():
    v = verdict(age_years=17, gfr=None)
    assert v.status == "ineligible" and v.failed == ["IN1"] and v.missing == ["gfr"]


def test_unusual_but_possible_values_warn():
    v = verdict(age_years=104, platelets=Decimal("1500"))
    assert v.status == "eligible"
    assert any("Age" in w for w in v.warnings) and any("Platelets" in w for w in v.warnings)
