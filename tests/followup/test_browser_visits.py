"""A coordinator enters V2 and V3, the blinded assessor enters V5, on a tablet-sized screen."""

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from followup import nihss
from followup.models import Day90, Visit24h, Visit48h

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
SHOTS = "/tmp/followup-shots"


def fill_nihss(page, prefix, scores):
    for item in nihss.ITEMS:
        page.fill(f"#id_{nihss.field_name(prefix, item)}", str(scores.get(item.code, 0)))


def test_coordinator_enters_v2_and_v3_and_assessor_enters_v5(login_page, make_subject):
    import os

    os.makedirs(SHOTS, exist_ok=True)
    subject = make_subject(timezone.now() - timedelta(days=88))
    page = login_page("coord001")
    base = page.live_url
    page.goto(f"{base}/subjects/{subject.number}/")
    page.screenshot(path=f"{SHOTS}/1-casebook.png", full_page=True)
    page.click("[data-testid=open-V2]")
    fill_nihss(page, "nihss", {"1a": 1, "5a": 3, "9": 2})
    page.screenshot(path=f"{SHOTS}/2-v2.png", full_page=True)
    page.click("[data-testid=save]")
    page.wait_for_url(f"**/subjects/{subject.number}/")
    assert Visit24h.objects.get(subject=subject).nihss_total == 6
    assert page.locator("tr[data-visit=V2] [data-status=complete]").count() == 1

    page.click("[data-testid=open-V3]")
    page.select_option("#id_imaging_modality", "ct")
    imaging = timezone.localtime(subject.randomized_at + timedelta(hours=30), SHANGHAI)
    page.fill("#id_imaging_at", imaging.strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_new_ich", "true")
    page.check("#id_hb_1c")
    page.check("#id_ecass_ph1")
    page.select_option("#id_worsening", "true")
    fill_nihss(page, "before", {"1a": 1, "5a": 2})
    fill_nihss(page, "worse", {"1a": 2, "5a": 4, "9": 1})
    page.select_option("#id_alternative_explanation", "false")
    page.select_option("#id_ich_predominant_cause", "true")
    page.click("[data-testid=save]")
    page.wait_for_url(f"**/subjects/{subject.number}/")
    v3 = Visit48h.objects.get(subject=subject)
    assert v3.sich_heidelberg is True and v3.nihss_item_changes["5a"] == 2
    page.click("[data-testid=open-V3]")
    assert "Heidelberg (primary): sICH" in page.locator("[data-testid=sich]").inner_text()
    page.screenshot(path=f"{SHOTS}/3-v3-saved.png", full_page=True)
    page.context.close()

    assessor = login_page("assessor001")
    assessor.goto(f"{base}/subjects/")
    assessor.screenshot(path=f"{SHOTS}/4-assessor-list.png", full_page=True)
    assessor.goto(f"{base}/subjects/{subject.number}/")
    assert assessor.locator("tr[data-visit]").count() == 1
    assert assessor.locator("[data-testid=arm]").count() == 0
    assessor.click("[data-testid=open-V5]")
    # Today (study day 88, inside the day 83–97 window): day 90 itself is still in the future.
    day90 = timezone.localtime(timezone.now(), SHANGHAI).date()
    assessor.fill("#id_assessed_on", day90.isoformat())
    assessor.select_option("#id_mode", "phone")
    assessor.select_option("#id_respondent", "proxy")
    assessor.check("#id_blinded_attested")
    assert "walks without assistance" in assessor.locator("label[for=id_mrs_3]").inner_text()
    assessor.check("#id_mrs_3")
    for name in ("mobility", "self_care", "usual_activities", "pain", "anxiety"):
        assessor.select_option(f"#id_eq5d_{name}", "2")
    assessor.fill("#id_eq5d_vas", "65")
    assessor.screenshot(path=f"{SHOTS}/5-v5.png", full_page=True)
    assessor.click("[data-testid=save]")
    assessor.wait_for_url(f"**/subjects/{subject.number}/")
    row = Day90.objects.get(subject=subject)
    assert (row.mrs, row.mode, row.eq5d_vas, row.assessor.username) == (3, "phone", 65, "assessor001")
    assessor.screenshot(path=f"{SHOTS}/6-assessor-casebook.png", full_page=True)
