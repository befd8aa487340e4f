"""Fast screening (issue 14): the NIHSS as its typed total or its 15 items (SPEC §4), the
section states in the form's collapsible headers and the sticky verdict bar."""

import pytest
from django.utils import timezone

from core import protocol as P
from eligibility import rules
from eligibility.data import screening_data
from eligibility.models import Screening
from eligibility.sections import section_states
from eligibility.services import screening_create, screening_update
from eligibility.validation import hard_errors
from tests.eligibility.test_views import post_data
from tests.factories import NIHSS_ELIGIBLE_ITEMS, eligible_screening_data

TOTAL_ONLY = {"nihss_items": {}, "nihss_baseline": 14}


# --- validation: both entered must agree --------------------------------------------------


def test_typed_total_alone_and_items_alone_are_accepted():
    now = timezone.now()
    assert "nihss_baseline" not in hard_errors(eligible_screening_data(**TOTAL_ONLY), now)
    assert "nihss_baseline" not in hard_errors(eligible_screening_data(), now)


def test_typed_total_equal_to_the_items_is_accepted():
    assert "nihss_baseline" not in hard_errors(eligible_screening_data(nihss_baseline=14), timezone.now())


def test_typed_total_that_disagrees_with_the_items_names_the_field_and_rule():
    errors = hard_errors(eligible_screening_data(nihss_baseline=12), timezone.now())
    assert errors["nihss_baseline"] == (
        "NIHSS total: 12 typed, but the 15 items add up to 14. Rule: the total equals the sum of "
        "the items (UN counts 0); correct one of them, or clear the total or the items.")


def test_typed_total_below_the_items_entered_so_far_is_a_mismatch():
    errors = hard_errors({"nihss_items": {"5a": 4, "6a": 4}, "nihss_baseline": 6}, timezone.now())
    assert "items entered so far already add up to 8" in errors["nihss_baseline"]


def test_typed_total_beside_a_partial_set_of_items_is_refused():
    errors = hard_errors({"nihss_items": {"5a": 2}, "nihss_baseline": 9}, timezone.now())
    assert errors["nihss_baseline"] == ("NIHSS total: typed together with 1 of 15 items. Rule: enter "
                                        "the total alone, or all 15 items (their sum must equal the total).")


def test_untestable_items_count_zero_in_the_comparison():
    items = {**NIHSS_ELIGIBLE_ITEMS, "5a": "UN"}  # 14 - 3
    data = eligible_screening_data(nihss_items=items, nihss_un_reason="amputation", nihss_baseline=11)
    assert "nihss_baseline" not in hard_errors(data, timezone.now())
    assert "nihss_baseline" in hard_errors({**data, "nihss_baseline": 14}, timezone.now())


def test_typed_total_out_of_range_is_refused():
    errors = hard_errors({"nihss_baseline": P.NIHSS_MAX_TOTAL + 1}, timezone.now())
    assert errors["nihss_baseline"] == "NIHSS total: 43 is impossible; the allowed range is 0–42."


@pytest.mark.parametrize("total, status", [(P.NIHSS_MIN, "eligible"), (P.NIHSS_MIN - 1, "ineligible")])
def test_rules_use_the_typed_total_at_the_in4_boundary(total, status):
    verdict = rules.evaluate(eligible_screening_data(nihss_items={}, nihss_baseline=total))
    assert verdict.status == status and verdict.nihss_total == total


# --- services: stored with how it was entered ----------------------------------------------


@pytest.mark.django_db
def test_stored_screening_records_total_entry(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(**TOTAL_ONLY))
    s.refresh_from_db()
    assert (s.nihss_entry, s.nihss_baseline, s.nihss_items, s.verdict_status) == ("total", 14, {}, "eligible")
    assert screening_data(s)["nihss_baseline"] == 14
    assert s.get_nihss_entry_display() == "Total typed"


@pytest.mark.django_db
def test_stored_screening_records_items_entry_and_derives_the_total(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"],
                         data=eligible_screening_data(nihss_baseline=14))
    s.refresh_from_db()
    assert (s.nihss_entry, s.nihss_baseline) == ("items", 14)
    assert screening_data(s)["nihss_baseline"] is None  # the items decide


@pytest.mark.django_db
def test_switching_from_total_to_items_updates_the_entry(personas, sites):
    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(**TOTAL_ONLY))
    s = screening_update(screening=s, user=personas["coord001"], version=s.version, reason="items scored",
                         data={"nihss_items": dict(NIHSS_ELIGIBLE_ITEMS, **{"4": 3}), "nihss_baseline": None})
    s.refresh_from_db()
    assert (s.nihss_entry, s.nihss_baseline) == ("items", 15)


@pytest.mark.django_db
def test_service_refuses_a_mismatch_whatever_the_caller(personas, sites):
    from core.exceptions import HardCheckFailed

    with pytest.raises(HardCheckFailed) as exc:
        screening_create(site=sites["001"], user=personas["coord001"],
                         data=eligible_screening_data(nihss_baseline=20))
    assert "NIHSS total: 20 typed, but the 15 items add up to 14" in exc.value.errors["nihss_baseline"]
    assert not Screening.objects.exists()


# --- pages -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_form_saves_a_typed_total_and_the_detail_page_says_how_it_was_entered(client_for, sites):
    c = client_for("coord001")
    r = c.post("/screening/new/", post_data(sites["001"], eligible_screening_data(**TOTAL_ONLY)))
    assert r.status_code == 302, r.content.decode()[:2000]
    s = Screening.objects.get()
    assert (s.nihss_entry, s.nihss_baseline, s.verdict_status) == ("total", 14, "eligible")
    html = c.get(f"/screening/{s.pk}/").content.decode()
    assert '<span data-testid="nihss-total">14</span>' in html and "(Total typed)" in html
    edit = c.get(f"/screening/{s.pk}/edit/").content.decode()
    assert 'name="nihss_baseline" value="14"' in edit
    assert 'id="nihss-items" data-testid="nihss-items">' in edit  # items folded: the total was typed


@pytest.mark.django_db
def test_form_shows_a_mismatch_beside_the_total_and_keeps_what_was_typed(client_for, sites):
    c = client_for("coord001")
    r = c.post("/screening/new/", post_data(sites["001"], eligible_screening_data(nihss_baseline=9)))
    html = r.content.decode()
    assert r.status_code == 400 and not Screening.objects.exists()
    assert "NIHSS total: 9 typed, but the 15 items add up to 14." in html
    assert 'name="nihss_baseline" value="9"' in html and "is-invalid" in html


@pytest.mark.django_db
def test_live_verdict_returns_section_states_and_the_verdict_bar(client_for, sites):
    c = client_for("coord001")
    data = eligible_screening_data(age_years=17, consent=None, consent_at=None)
    html = c.post("/screening/verdict/", post_data(sites["001"], data)).content.decode()
    assert 'id="section-state-patient"' in html and 'data-section="patient" data-state="ineligible"' in html
    assert 'data-section="consent" data-state="missing" data-missing="1"' in html
    assert 'data-section="labs" data-state="complete"' in html
    assert html.count('hx-swap-oob="true"') >= 6 + 3  # six sections + total, interval, bar
    assert 'id="verdict-mini"' in html and "IN1: Age 17 years is below 18." in html


@pytest.mark.django_db
def test_verdict_bar_counts_missing_fields(client_for, sites):
    html = client_for("coord001").post("/screening/verdict/", {"site": sites["001"].pk, "age_years": "40",
                                                                "passes-TOTAL_FORMS": "0",
                                                                "passes-INITIAL_FORMS": "0"}).content.decode()
    verdict = rules.evaluate({"age_years": 40})
    assert f"{len(verdict.missing)} fields missing" in html and 'data-status="incomplete"' in html


def test_section_state_assigns_ex3_to_the_answers_that_fail_it():
    labs = eligible_screening_data(platelets=50)
    states = section_states(rules.evaluate(labs), labs)
    assert (states["labs"].state, states["exclusions"].state) == ("ineligible", "complete")
    doac = eligible_screening_data(doac_48h=True)
    states = section_states(rules.evaluate(doac), doac)
    assert (states["labs"].state, states["exclusions"].state) == ("complete", "ineligible")
    assert states["exclusions"].failed == ("EX3",)


def test_section_state_counts_missing_nihss_items_and_passes():
    data = eligible_screening_data(nihss_items={"1a": 1, "1b": 0}, passes=[])
    states = section_states(rules.evaluate(data), data)
    assert states["stroke"].state == "missing" and states["stroke"].missing == 13
    assert states["passes"].state == "missing" and states["passes"].missing == 1
    assert states["patient"].text == "complete"
    assert states["stroke"].text == "missing 13 fields"


# --- every reader after the screening: exports, randomization page -------------------------


@pytest.mark.django_db
def test_export_and_dictionary_carry_how_the_nihss_was_entered(personas, sites, settings, tmp_path):
    import csv
    import io
    import zipfile

    from exports.services import export_request, export_run

    settings.EDC_EXPORT_DIR = tmp_path / "exports"
    typed = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(**TOTAL_ONLY))
    scored = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data())
    export = export_run(export_id=export_request(user=personas["datamanager"], formats=["csv"], dispatch=False).pk)
    bundle = zipfile.ZipFile(export.path)
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(bundle.read("csv/screening.csv").decode("utf-8-sig")))}
    assert (rows[typed.number]["nihss_entry"], rows[typed.number]["nihss_baseline"]) == ("total", "14")
    assert (rows[scored.number]["nihss_entry"], rows[scored.number]["nihss_baseline"]) == ("items", "14")
    dictionary = {d["variable"]: d for d in csv.DictReader(io.StringIO(bundle.read("dictionary.csv").decode("utf-8-sig")))
                  if d["table"] == "screening"}
    assert dictionary["nihss_entry"]["allowed_values"] == "total = Total typed; items = 15 items (total derived)"


@pytest.mark.django_db
def test_randomization_page_reads_a_typed_total(client_for, personas, sites):
    from eligibility.services import screening_confirm

    s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(**TOTAL_ONLY))
    screening_confirm(screening=s, user=personas["inv001"])
    html = client_for("coord001").get(f"/randomization/screening/{s.pk}/").content.decode()
    assert "NIHSS 14" in html


@pytest.mark.django_db
def test_screening_form_runs_no_inline_script(client_for):
    """CSP: the form's behaviour comes from static files (static/edc/screening.js)."""
    import re

    html = client_for("coord001").get("/screening/new/").content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "/static/edc/screening.js" in html and "/static/edc/screening.css" in html
