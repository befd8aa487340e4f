"""End to end on a tablet: a coordinator opens Randomize, picks the confirmed screening,
confirms once and sees the subject number and arm in large type with the site time."""

import re

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_coordinator_randomizes_on_a_tablet(login_page, personas, sites):
    from randomization.models import Allocation
    from randomization.services import allocation_list_generate
    from tests.factories import make_confirmed_screening

    allocation_list_generate(user=personas["statistician"], seed="browser", entries_per_stratum=8)
    screening = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                         investigator=personas["inv001"])
    page = login_page("coord001", viewport=(768, 1024))  # portrait tablet
    page.click("main a:has-text(\"Randomize\")")  # the home card (the nav bar is collapsed on a tablet)
    page.click(f"text={screening.number}")
    assert page.locator("[data-testid=key-facts]").is_visible()
    page.screenshot(path="/tmp/rnd-randomize-confirm.png", full_page=True)
    button = page.locator("[data-testid=confirm-randomize]")
    box = button.bounding_box()
    assert box["height"] >= 60 and box["width"] >= 600  # a big target for a gloved hand
    button.click()
    page.wait_for_selector("[data-testid=subject-number]")
    page.screenshot(path="/tmp/rnd-randomize-result.png", full_page=True)
    allocation = Allocation.objects.get(screening=screening)
    assert page.inner_text("[data-testid=subject-number]") == "001-0001"
    assert page.inner_text("[data-testid=arm]") == allocation.get_arm_display()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d Asia/Shanghai", page.inner_text("[data-testid=randomized-at]"))
    number_size = page.eval_on_selector("[data-testid=subject-number]", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert number_size >= 48
    # Back and forward / reload never randomize again.
    page.go_back()
    page.reload()
    assert Allocation.objects.count() == 1
