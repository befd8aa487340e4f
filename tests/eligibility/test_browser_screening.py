"""A coordinator screens an eligible patient on a tablet, watching the verdict change live;
the investigator confirms. Playwright on the system Chromium."""

import os
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SHOTS = os.environ.get("EDC_SCREENSHOT_DIR", "/tmp")


def _local(dt):
    return timezone.localtime(dt, zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def _status(page):
    return page.locator("[data-testid=verdict-status]").get_attribute("data-status")


def _criterion(page, code):
    return page.locator(f"#verdict-panel [data-code={code}]").get_attribute("data-state")


def _wait_state(page, code, state):
    page.wait_for_selector(f"#verdict-panel [data-code={code}][data-state={state}]")


def test_coordinator_screens_eligible_patient_live_and_investigator_confirms(login_page, personas):
    from eligibility.models import Screening

    page = login_page("coord001")
    page.goto(f"{page.live_url}/screening/list/")
    page.click("[data-testid=new-screening]")
    page.wait_for_selector("#screening-form")
    assert _status(page) == "incomplete"

    # The verdict follows the typing without a page reload.
    page.evaluate("window.__noReload = true")
    page.fill("#id_age_years", "17")
    _wait_state(page, "IN1", "not_met")
    assert _status(page) == "ineligible"
    page.screenshot(path=f"{SHOTS}/screening_form_top_tablet.png")
    page.fill("#id_age_years", "64")
    _wait_state(page, "IN1", "met")
    assert _status(page) == "incomplete"

    page.check("#id_sex_0")  # female
    page.select_option("#id_prestroke_mrs", "0")
    now = timezone.now()
    page.fill("#id_last_known_well", _local(now - timedelta(hours=6)))
    page.fill("#id_arterial_puncture_at", _local(now - timedelta(hours=2)))
    _wait_state(page, "IN3", "met")
    items = {"1a": "1", "1b": "1", "1c": "0", "2": "1", "3": "1", "4": "2", "5a": "3", "5b": "0",
             "6a": "2", "6b": "0", "7": "0", "8": "1", "9": "1", "10": "1", "11": "0"}
    for code, value in items.items():
        page.select_option(f"#id_nihss_{code}", value)
    # (no wait_for_function: it evaluates a string, which the Content-Security-Policy forbids)
    expect(page.locator("#nihss-total")).to_have_text("14")
    _wait_state(page, "IN4", "met")
    page.locator("#section-stroke").screenshot(path=f"{SHOTS}/screening_nihss_tablet.png")
    page.select_option("#id_occlusion_site", "MCA_M1")
    page.fill("#id_aspects", "8")
    page.check("#id_evt_intended_0")  # yes

    # Passes are added one at a time; two passes do not satisfy IN8, the third does.
    for i, (technique, etici) in enumerate([("contact_aspiration", "0"), ("stent_retriever", "1"),
                                            ("combined", "1")]):
        page.click("[data-testid=add-pass]")
        page.select_option(f"#id_passes-{i}-technique", technique)
        page.select_option(f"#id_passes-{i}-etici", etici)
        if i == 1:
            _wait_state(page, "IN8", "not_met")
    _wait_state(page, "IN8", "met")

    for lab, value in {"platelets": "210", "aptt": "32.5", "inr": "1.05", "gfr": "85", "creatinine": "80"}.items():
        page.fill(f"#id_{lab}", value)
    page.select_option("#id_creatinine_unit", "umol/L")
    for name in ("ich_on_imaging", "fpct_major_hemorrhage", "gi_gu_bleeding_30d", "major_surgery_14d",
                 "doac_48h", "hit_history", "pregnant_or_lactating", "contrast_contraindication",
                 "nickel_titanium_allergy", "life_expectancy_lt_6m", "confounding_neuro_psych",
                 "tortuosity_prevents_delivery", "unlikely_90d_followup"):
        page.check(f"#id_{name}_1")  # no
    page.check("#id_consent_0")  # patient
    page.fill("#id_consent_at", _local(now - timedelta(hours=1)))
    page.wait_for_selector("[data-testid=verdict-status][data-status=eligible]")
    assert page.evaluate("window.__noReload") is True  # still the same page: updated by htmx
    assert page.locator("[data-testid=verdict-mini]").inner_text().startswith("Eligible · 19/19")
    page.screenshot(path=f"{SHOTS}/screening_form_tablet.png", full_page=False)
    page.set_viewport_size({"width": 768, "height": 1024})  # portrait tablet
    page.evaluate("window.scrollTo(0, document.getElementById('section-passes').offsetTop)")
    page.screenshot(path=f"{SHOTS}/screening_form_portrait.png")

    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=outcome]")
    screening = Screening.objects.get()
    assert screening.verdict_status == "eligible" and screening.nihss_baseline == 14
    assert screening.passes.filter(active=True).count() == 3
    # A coordinator is not offered (and would be refused) the confirmation.
    assert page.locator("[data-testid=confirm-form]").count() == 0

    inv = login_page("inv001")
    inv.goto(f"{inv.live_url}/screening/{screening.pk}/")
    inv.check("#id_confirm")
    inv.click("[data-testid=confirm-form] button[type=submit]")
    inv.wait_for_selector("[data-testid=confirmed]")
    inv.screenshot(path=f"{SHOTS}/screening_confirmed_tablet.png", full_page=True)
    screening.refresh_from_db()
    assert screening.confirmed_by == personas["inv001"] and screening.confirmed_at is not None
