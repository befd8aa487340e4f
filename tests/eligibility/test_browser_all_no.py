"""Fast screening: one "All no" answers the whole exclusion block, each answer still visible
and changeable (tablet)."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_all_no_answers_every_exclusion_question_visibly(login_page, personas, sites):
    from eligibility.forms import EXCLUSION_QUESTIONS

    page = login_page("coord001")
    page.goto(f"{page.live_url}/screening/new/")
    page.wait_for_load_state("networkidle")
    no_radios = page.locator('#section-exclusions input[type=radio][value="no"]')
    assert no_radios.count() == len(EXCLUSION_QUESTIONS) >= 10
    assert page.locator('#section-exclusions input[type=radio]:checked').count() == 0
    page.click("[data-testid=all-no]")
    assert page.locator('#section-exclusions input[type=radio][value="no"]:checked').count() == len(EXCLUSION_QUESTIONS)
    for i in range(no_radios.count()):
        assert no_radios.nth(i).is_visible()
    first_yes = page.locator('#section-exclusions input[type=radio][value="yes"]').first
    first_yes.check()  # one answer changed by hand; the others stay "no"
    assert page.locator('#section-exclusions input[type=radio][value="no"]:checked').count() == \
        len(EXCLUSION_QUESTIONS) - 1
    page.screenshot(path="/tmp/screening-all-no.png", full_page=False)
