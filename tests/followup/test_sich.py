"""sICH by Heidelberg (primary), ECASS III and SITS-MOST — table-driven (SCALES.md)."""

import pytest

from followup.sich import SICHInput, derive_all, ecass3, heidelberg, sits_most

BASE = dict(new_ich=True, heidelberg_classes=frozenset({"2"}), ecass_types=frozenset({"PH2"}),
            nihss_baseline=14, nihss_before_worsening=10, nihss_at_worsening=14, item_changes={},
            nihss_lowest_7d=10, nihss_lowest_24h=10, major_intervention="",
            alternative_explanation=False, died=False, ich_predominant_cause=True,
            imaging_hours_after_t0=30.0, imaging_at_worsening=False)


def case(**changes):
    return SICHInput(**{**BASE, **changes})


HEIDELBERG_CASES = [
    ("total up exactly 4", {}, True),
    ("total up 3, no item up 2", {"nihss_at_worsening": 13, "item_changes": {"5a": 1, "9": 1, "4": 1}}, False),
    ("total up 3, items not recorded: cannot exclude an item up 2", {"nihss_at_worsening": 13}, None),
    ("one item up 2 with total up 2", {"nihss_at_worsening": 12, "item_changes": {"5a": 2}}, True),
    ("one item up 1 only", {"nihss_at_worsening": 11, "item_changes": {"5a": 1}}, False),
    ("intubation without NIHSS rise", {"nihss_at_worsening": 10, "major_intervention": "intubation"}, True),
    ("hemicraniectomy", {"nihss_at_worsening": 10, "major_intervention": "hemicraniectomy"}, True),
    ("alternative explanation", {"alternative_explanation": True}, False),
    ("no new ICH", {"new_ich": False, "heidelberg_classes": frozenset(), "ecass_types": frozenset()}, False),
    ("alternative explanation not recorded", {"alternative_explanation": None}, None),
    ("NIHSS missing, no item data, no intervention", {"nihss_at_worsening": None}, None),
]


@pytest.mark.parametrize("name,changes,expected", HEIDELBERG_CASES, ids=[c[0] for c in HEIDELBERG_CASES])
def test_heidelberg(name, changes, expected):
    result = heidelberg(case(**changes))
    assert result.sich is expected, result.text


ECASS_CASES = [
    ("up 4 from lowest, judged cause", {"nihss_baseline": 20}, True),
    ("up 4 from baseline only", {"nihss_baseline": 10, "nihss_lowest_7d": 12}, True),
    ("up 3 from both", {"nihss_baseline": 11, "nihss_lowest_7d": 11}, False),
    ("death counts as worsening", {"nihss_baseline": 20, "nihss_lowest_7d": 14, "died": True}, True),
    ("not the predominant cause", {"ich_predominant_cause": False}, False),
    ("cause not judged", {"ich_predominant_cause": None}, None),
    ("any ICH, e.g. HI1 only", {"heidelberg_classes": frozenset({"1a"}), "ecass_types": frozenset({"HI1"})}, True),
    ("no ICH", {"new_ich": False, "heidelberg_classes": frozenset(), "ecass_types": frozenset()}, False),
]


@pytest.mark.parametrize("name,changes,expected", ECASS_CASES, ids=[c[0] for c in ECASS_CASES])
def test_ecass3(name, changes, expected):
    result = ecass3(case(**changes))
    assert result.sich is expected, result.text


SITS_CASES = [
    ("PH2 at 30 h, up 4 from baseline", {"nihss_baseline": 10, "nihss_lowest_24h": 12}, True),
    ("remote PH2 counts", {"ecass_types": frozenset({"rPH2"}), "nihss_baseline": 10}, True),
    ("PH1 is not enough", {"ecass_types": frozenset({"PH1"}), "nihss_baseline": 10}, False),
    ("imaging at 22 h is inside", {"imaging_hours_after_t0": 22.0, "nihss_baseline": 10}, True),
    ("imaging at 36 h is inside", {"imaging_hours_after_t0": 36.0, "nihss_baseline": 10}, True),
    ("imaging at 37 h is outside", {"imaging_hours_after_t0": 37.0, "nihss_baseline": 10}, False),
    ("earlier imaging at the worsening counts",
     {"imaging_hours_after_t0": 8.0, "imaging_at_worsening": True, "nihss_baseline": 10}, True),
    ("up 4 from lowest up to 24 h", {"nihss_baseline": 20, "nihss_lowest_24h": 10}, True),
    ("up 3 only, alive", {"nihss_baseline": 11, "nihss_lowest_24h": 11}, False),
    ("death", {"nihss_baseline": 20, "nihss_lowest_24h": 20, "died": True}, True),
    ("imaging time unknown", {"imaging_hours_after_t0": None, "nihss_baseline": 10}, None),
]


@pytest.mark.parametrize("name,changes,expected", SITS_CASES, ids=[c[0] for c in SITS_CASES])
def test_sits_most(name, changes, expected):
    result = sits_most(case(**changes))
    assert result.sich is expected, result.text


def test_definitions_can_disagree_and_each_gives_its_reasoning():
    # Heidelberg: new ICH (1a), item up 2, no alternative -> sICH; SITS-MOST needs PH2 -> no.
    d = case(heidelberg_classes=frozenset({"1a"}), ecass_types=frozenset({"HI1"}), nihss_at_worsening=12,
             item_changes={"9": 2}, nihss_baseline=14)
    results = derive_all(d)
    assert results["heidelberg"].sich is True
    assert results["sits_most"].sich is False
    assert "item(s) up ≥ 2: 9" in results["heidelberg"].text
    assert "no PH2" in results["sits_most"].text
