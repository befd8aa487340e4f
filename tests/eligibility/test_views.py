"""Screening pages: bad input, partial save and resume, site scope, roles, audit."""

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from eligibility.data import screening_data
from eligibility.forms import ScreeningForm
from eligibility.models import Screening
from tests.factories import eligible_screening_data, make_confirmed_screening, make_screening

pytestmark = pytest.mark.django_db


def _local(dt):
    return timezone.localtime(dt, zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def post_data(site, data=None, **extra):
    """The POST a browser sends for `data` (a SPEC §10 dict)."""
    data = data if data is not None else eligible_screening_data()
    initial = ScreeningForm.initial_from_data(data)
    out = {"site": site.pk}
    for key, value in initial.items():
        if value is None:
            continue
        if key in ("last_known_well", "arterial_puncture_at", "consent_at"):
            value = _local(value)
        if value is True:
            value = "on"
        if value is False:
            continue
        out[key] = str(value)
    passes = data.get("passes") or []
    out["passes-TOTAL_FORMS"] = str(len(passes))
    out["passes-INITIAL_FORMS"] = "0"
    for i, p in enumerate(passes):
        out[f"passes-{i}-technique"] = p["technique"] or ""
        out[f"passes-{i}-etici"] = p["etici"] or ""
    out.update(extra)
    return out


def test_coordinator_creates_eligible_screening_through_the_form(client_for, personas, sites):
    c = client_for("coord001")
    r = c.post("/screening/new/", post_data(sites["001"]))
    assert r.status_code == 302, r.content.decode()[:2000]
    s = Screening.objects.get()
    assert s.number == "001-S0001" and s.verdict_status == "eligible"
    assert s.nihss_baseline == 14 and s.circulation == "anterior"
    assert screening_data(s)["last_known_well"] == eligible_screening_data()["last_known_well"]
    assert AuditEvent.objects.filter(action="screening", object_id=str(s.pk)).exists()


@pytest.mark.parametrize("field, value, expected", [
    ("age_years", "250", "Age: 250 is impossible; the allowed range is 0–120 years."),
    ("aspects", "11", "ASPECTS: 11 is impossible; the allowed range is 0–10."),
])
def test_impossible_values_refused_naming_field_and_rule_keeping_the_rest(client_for, sites, field, value, expected):
    c = client_for("coord001")
    r = c.post("/screening/new/", post_data(sites["001"], **{field: value}))
    assert r.status_code == 400
    html = r.content.decode()
    assert expected in html
    assert 'value="64"' in html or field == "age_years"  # the rest is kept
    assert 'name="platelets" value="210"' in html
    assert 'name="passes-2-technique"' in html
    assert not Screening.objects.exists()


def test_puncture_before_lkw_refused(client_for, sites):
    d = eligible_screening_data()
    d["arterial_puncture_at"] = d["last_known_well"] - timedelta(minutes=10)
    r = client_for("coord001").post("/screening/new/", post_data(sites["001"], d))
    assert r.status_code == 400
    assert "Arterial puncture: it cannot be before last known well" in r.content.decode()
    assert not Screening.objects.exists()


def test_time_in_future_refused(client_for, sites):
    d = eligible_screening_data(consent_at=timezone.now() + timedelta(hours=2))
    r = client_for("coord001").post("/screening/new/", post_data(sites["001"], d))
    assert r.status_code == 400
    assert "Consent time: a time in the future is impossible." in r.content.decode()


def test_creatinine_without_unit_refused(client_for, sites):
    r = client_for("coord001").post("/screening/new/", post_data(sites["001"], creatinine_unit=""))
    assert r.status_code == 400
    assert "Creatinine unit: choose µmol/L or mg/dL" in r.content.decode()
    assert not Screening.objects.exists()


def test_unusual_value_saved_with_warning(client_for, sites):
    c = client_for("coord001")
    r = c.post("/screening/new/", post_data(sites["001"], age_years="104"))
    assert r.status_code == 302
    s = Screening.objects.get()
    assert s.age_years == 104 and s.verdict_status == "eligible"
    assert any("unusual" in w for w in s.verdict_warnings)
    assert "unusual" in c.get(r["Location"]).content.decode()


def test_partial_screening_saved_and_resumed(client_for, sites):
    c = client_for("coord001")
    partial = {"age_years": 70, "sex": "male", "passes": []}
    r = c.post("/screening/new/", post_data(sites["001"], partial))
    assert r.status_code == 302
    s = Screening.objects.get()
    assert s.verdict_status == "incomplete" and "prestroke_mrs" in s.verdict_missing
    edit = c.get(f"/screening/{s.pk}/edit/").content.decode()
    assert 'name="age_years" value="70"' in edit and 'name="version" value="1"' in edit
    # Resume: fill in everything else; filling blanks needs no reason for change.
    full = eligible_screening_data(sex="male", age_years=70)
    r = c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], full, version="1"))
    assert r.status_code == 302, r.content.decode()[:3000]
    s.refresh_from_db()
    assert s.verdict_status == "eligible" and s.version == 2
    assert s.passes.filter(active=True).count() == 3


def test_changing_saved_value_asks_reason_then_keeps_it_in_history(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c = client_for("coord001")
    data = eligible_screening_data(age_years=65)
    r = c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], data, version="1"))
    assert r.status_code == 400
    assert "Reason for change: required" in r.content.decode()
    r = c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], data, version="1", reason="source document"))
    assert r.status_code == 302
    s.refresh_from_db()
    assert s.age_years == 65
    assert s.events.order_by("-pgh_id").first().pgh_context.metadata["reason"] == "source document"


def test_stale_edit_refused_without_losing_input(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"], age_years=None)
    c = client_for("coord001")
    assert c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], eligible_screening_data(age_years=50),
                                                        version="1")).status_code == 302
    r = c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], eligible_screening_data(age_years=51),
                                                    version="1", reason="x"))
    assert r.status_code == 409
    assert "changed by someone else" in r.content.decode()
    assert 'name="age_years" value="51"' in r.content.decode()


def test_site_002_user_gets_404_on_site_001_screening(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    for username in ("coord002", "inv002"):
        c = client_for(username)
        assert c.get(f"/screening/{s.pk}/").status_code == 404
        assert c.get(f"/screening/{s.pk}/edit/").status_code == 404
        assert c.post(f"/screening/{s.pk}/confirm/", {"confirm": "on"}).status_code == 404
        assert c.post(f"/screening/{s.pk}/close/", {"reason": "other", "text": "x"}).status_code == 404
    s.refresh_from_db()
    assert s.confirmed_at is None and s.outcome == "open"
    assert s.number not in client_for("coord002").get("/screening/list/").content.decode()


def test_coordinator_cannot_confirm_through_the_page(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c = client_for("coord001")
    assert 'data-testid="confirm-form"' not in c.get(f"/screening/{s.pk}/").content.decode()
    assert c.post(f"/screening/{s.pk}/confirm/", {"confirm": "on"}).status_code == 403
    s.refresh_from_db()
    assert s.confirmed_at is None


def test_investigator_confirms_and_it_is_audited(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c = client_for("inv001")
    assert 'data-testid="confirm-form"' in c.get(f"/screening/{s.pk}/").content.decode()
    assert c.post(f"/screening/{s.pk}/confirm/", {"confirm": "on"}).status_code == 302
    s.refresh_from_db()
    assert s.confirmed_by == personas["inv001"]
    event = AuditEvent.objects.filter(object_id=str(s.pk), detail__event="confirmed").get()
    assert event.actor == personas["inv001"] and "patient" in event.summary


def test_investigator_confirming_ineligible_sees_message_not_500(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"], gfr="29")
    c = client_for("inv001")
    r = c.post(f"/screening/{s.pk}/confirm/", {"confirm": "on"}, follow=True)
    assert r.status_code == 200
    assert "Only an eligible screening can be confirmed" in r.content.decode()
    assert "EX8" in r.content.decode()


def test_assessor_cannot_screen_or_read(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c = client_for("assessor001")
    assert c.get("/screening/new/").status_code == 403
    assert c.get(f"/screening/{s.pk}/").status_code == 404
    assert c.get("/screening/log/").status_code == 403


def test_monitor_reads_but_cannot_edit(client_for, sites, personas):
    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c = client_for("monitor")
    r = c.get(f"/screening/{s.pk}/")
    assert r.status_code == 200 and 'data-testid="edit"' not in r.content.decode()
    assert c.get(f"/screening/{s.pk}/edit/").status_code == 404


def test_close_with_reasons(client_for, sites, personas):
    c = client_for("coord001")
    ineligible = make_screening(site=sites["001"], coordinator=personas["coord001"], age_years=17, inr="2.1")
    c.post(f"/screening/{ineligible.pk}/close/", {"reason": "ineligible"})
    ineligible.refresh_from_db()
    assert ineligible.outcome == "ineligible" and ineligible.closed_reason_codes == ["IN1", "EX3"]
    other = make_screening(site=sites["001"], coordinator=personas["coord001"])
    r = c.post(f"/screening/{other.pk}/close/", {"reason": "other"}, follow=True)
    assert "needs a written reason" in r.content.decode()
    c.post(f"/screening/{other.pk}/close/", {"reason": "other", "text": "transferred"})
    other.refresh_from_db()
    assert other.outcome == "other" and other.closed_reason_text == "transferred"
    refused = make_screening(site=sites["001"], coordinator=personas["coord001"])
    c.post(f"/screening/{refused.pk}/close/", {"reason": "consent_refused"})
    refused.refresh_from_db()
    assert refused.outcome == "consent_refused"
    # A closed screening can be neither edited nor confirmed.
    r = client_for("inv001").post(f"/screening/{refused.pk}/confirm/", {"confirm": "on"}, follow=True)
    assert "no longer open" in r.content.decode()
    assert AuditEvent.objects.filter(detail__event="closed").count() == 3


def test_live_verdict_endpoint_returns_panel_with_each_criterion(client_for, sites):
    c = client_for("coord001")
    d = post_data(sites["001"], age_years="17")
    r = c.post("/screening/verdict/", d, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'data-status="ineligible"' in html
    assert 'data-code="IN1" data-state="not_met"' in html and "Age 17 years is below 18" in html
    assert 'id="nihss-total"' in html and ">14<" in html  # out-of-band NIHSS total
    r = c.post("/screening/verdict/", post_data(sites["001"], {"age_years": 40}))
    assert 'data-code="IN2" data-state="missing"' in r.content.decode()
    r = c.post("/screening/verdict/", post_data(sites["001"], age_years="250"))
    assert "Age: 250 is impossible" in r.content.decode()
    assert not Screening.objects.exists()


def test_attestation_is_investigators_only(client_for, sites, personas):
    data = eligible_screening_data(platelets="pending", lab_pending_attested=True)
    r = client_for("coord001").post("/screening/new/", post_data(sites["001"], data))
    assert not Screening.objects.exists() or not Screening.objects.get().lab_pending_attested
    r = client_for("inv001").post("/screening/new/", post_data(sites["001"], data))
    assert r.status_code == 302
    s = Screening.objects.get(created_by=personas["inv001"])
    assert s.verdict_status == "eligible" and s.platelets_pending and s.lab_pending_attested_by == personas["inv001"]
    assert any("pending" in w for w in s.verdict_warnings)


def test_confirmed_screening_is_unconfirmed_when_data_change(client_for, sites, personas):
    s = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                 investigator=personas["inv001"])
    c = client_for("coord001")
    r = c.post(f"/screening/{s.pk}/edit/", post_data(sites["001"], eligible_screening_data(aspects=7),
                                                    version=str(s.version), reason="re-read CT"))
    assert r.status_code == 302
    s.refresh_from_db()
    assert s.confirmed_at is None and s.aspects == 7


def test_form_shows_units_ranges_sections_and_nihss_items(client_for):
    html = client_for("coord001").get("/screening/new/").content.decode()
    for text in ("Patient and history", "Stroke and imaging", "Thrombectomy passes", "Laboratory values",
                 "Exclusion criteria", "Consent", "Allowed 0–120 years", "×10⁹/L", "mL/min",
                 "Allowed 0–10. IN5", "time zone Asia/Shanghai", 'data-testid="add-pass"'):
        assert text in html, text
    for code in ("1a", "1b", "1c", "2", "3", "4", "5a", "5b", "6a", "6b", "7", "8", "9", "10", "11"):
        assert f'name="nihss_{code}"' in html
    form = ScreeningForm()
    assert ("UN", "UN (untestable)") in [(v, str(lbl)) for v, lbl in form.fields["nihss_5a"].choices]
    assert "UN" not in [v for v, _ in form.fields["nihss_1a"].choices]
