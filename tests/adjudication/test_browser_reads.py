"""In Chromium: a site uploads the material, a core-lab reader of another site reads the
angiography (eTICI), and a central rater scores the day-90 recording with the structured
interview."""

from __future__ import annotations

import os

import pytest

from tests.adjudication.conftest import MP4, WAV

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
SHOTS = "/tmp/adjudication-shots"


def _upload_in_browser(page, subject, category, name, content, mime):
    page.goto(f"{page.live_url}/subjects/{subject.number}/")
    page.click("[data-testid=material-link]")
    page.select_option("#id_category", category)
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": mime, "buffer": content}])
    page.click("[data-testid=upload-form] button")
    page.wait_for_load_state("networkidle")


def test_core_lab_read_in_the_browser(personas, readers, randomized_subject, material_storage, login_page):
    from adjudication.models import Case, Read
    from adjudication.services import read_claim, read_save

    os.makedirs(SHOTS, exist_ok=True)
    subject = randomized_subject("001")
    site = login_page("coord001")
    _upload_in_browser(site, subject, "angiography", "patient wang run 3.mp4", MP4, "video/mp4")
    assert "V1-0001.mp4" in site.locator("[data-testid=materials]").inner_text()
    site.screenshot(path=f"{SHOTS}/1-site-upload.png", full_page=True)
    site.context.close()

    page = login_page("corelab2")
    page.goto(f"{page.live_url}/adjudication/")
    case = Case.objects.get(subject=subject, kind="angio_etici")
    assert subject.number in page.locator("[data-testid=available]").inner_text()
    page.screenshot(path=f"{SHOTS}/2-corelab-worklist.png", full_page=True)
    page.click(f"[data-testid=claim-{case.pk}]")
    page.wait_for_url(f"**/adjudication/cases/{case.pk}/")
    assert page.locator("[data-testid=materials] video").count() == 1
    page.select_option("#id_etici_last_pre", "1")
    page.select_option("#id_etici_final", "2b67")
    page.screenshot(path=f"{SHOTS}/3-corelab-read.png", full_page=True)
    page.click("[data-testid=finalize]")
    page.wait_for_url("**/adjudication/worklist/")
    read = Read.objects.get(case=case, reader=readers["corelab2"])
    assert read.status == "final" and read.values == {"etici_last_pre": "1", "etici_final": "2b67"}
    page.goto(f"{page.live_url}/adjudication/cases/{case.pk}/")
    assert page.locator("[data-testid=locked]").count() == 1
    # The second reader agrees: the case is final.
    second = read_claim(user=readers["corelab3"], case=case)
    read_save(user=readers["corelab3"], read=second, data={"etici_last_pre": "1", "etici_final": "2b67"}, finalize=True)
    page.reload()
    assert page.locator("[data-testid=case-status]").inner_text() == "Final"
    page.screenshot(path=f"{SHOTS}/4-corelab-final.png", full_page=True)


def test_central_mrs_rating_in_the_browser(personas, readers, randomized_subject, material_storage, login_page):
    from adjudication.models import Case, Read

    os.makedirs(SHOTS, exist_ok=True)
    subject = randomized_subject("001")
    assessor = login_page("assessor001")
    _upload_in_browser(assessor, subject, "day90_recording", "call.wav", WAV, "audio/wav")
    assert "V5-0001.wav" in assessor.locator("[data-testid=materials]").inner_text()
    assessor.context.close()

    page = login_page("rater2")
    page.goto(f"{page.live_url}/adjudication/worklist/")
    case = Case.objects.get(subject=subject, kind="mrs")
    page.click(f"[data-testid=claim-{case.pk}]")
    page.wait_for_url(f"**/adjudication/cases/{case.pk}/")
    assert page.locator("[data-testid=materials] audio").count() == 1
    answers = {"q1_dead": "false", "q2_bedridden": "false", "q3_constant_care": "false", "q4_walk_help": "false",
               "q5_bodily_help": "false", "q6_affairs_help": "false", "q7_activities": "true", "q8_social": "false",
               "q9_symptoms": "true"}
    for key, value in answers.items():
        page.check(f"[data-field={key}] input[value={value}]")
    page.click("button[value=save]")
    page.wait_for_url(f"**/adjudication/cases/{case.pk}/")
    assert page.locator("[data-testid=auto-mrs]").inner_text() == "2"
    page.screenshot(path=f"{SHOTS}/5-mrs-draft.png", full_page=True)
    # Overriding the interview's score needs a reason, shown next to the note field.
    page.select_option("#id_mrs", "3")
    page.click("[data-testid=finalize]")
    assert "differs from the interview" in page.locator(".invalid-feedback").first.inner_text()
    page.select_option("#id_mrs", "")
    page.click("[data-testid=finalize]")
    page.wait_for_url("**/adjudication/worklist/")
    read = Read.objects.get(case=case, reader=readers["rater2"])
    assert read.status == "final" and read.values["mrs"] == 2 and read.values["auto_mrs"] == 2
    page.screenshot(path=f"{SHOTS}/6-mrs-worklist.png", full_page=True)
