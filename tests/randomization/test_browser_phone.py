"""The randomize journey on a 390×844 phone fits one screen: the confirm button is within the
first viewport, the screening and subject numbers never wrap, the arm name fits (never broken
mid-word), and the result offers "Enter V1" and "Open casebook"."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = (390, 844)

ONE_LINE = """el => { const r = document.createRange(); r.selectNodeContents(el);
  const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
  return tops.size === 1 && el.scrollWidth <= el.clientWidth + 1; }"""
WORDS_WHOLE = """el => { const text = el.firstChild; const out = []; let i = 0;
  for (const word of text.textContent.split(' ')) {
    const start = text.textContent.indexOf(word, i); const r = document.createRange();
    r.setStart(text, start); r.setEnd(text, start + word.length); i = start + word.length;
    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
    out.push(tops.size === 1); }
  return out.every(Boolean) && el.scrollWidth <= el.clientWidth + 1; }"""


@pytest.mark.parametrize("label", ["STENTING", "CONTINUED_MT"])
def test_randomize_journey_fits_a_phone(login_page, personas, sites, label):
    from randomization.models import Allocation, AllocationEntry, Arm
    from randomization.services import allocation_list_generate
    from tests.factories import make_confirmed_screening

    allocation_list_generate(user=personas["statistician"], seed="phone", entries_per_stratum=12)
    # Take the first entries of the stratum until the next one is of the arm under test, so both
    # arm names are checked on the phone (through the real service each time).
    screening = None
    for _ in range(12):
        screening = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                             investigator=personas["inv001"])
        nxt = AllocationEntry.objects.filter(stratum="001-anterior", used=False).order_by("sequence").first()
        if nxt.arm == label:
            break
        from randomization.services import subject_randomize

        subject_randomize(screening=screening, user=personas["coord001"], notify=False)
    page = login_page("coord001", viewport=PHONE)
    page.goto(f"{page.live_url}/randomization/screening/{screening.pk}/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=f"/tmp/phone-randomize-{label}.png")
    button = page.locator("[data-testid=confirm-randomize]")
    box = button.bounding_box()
    assert box["y"] + box["height"] <= PHONE[1], box  # in the first viewport, no scrolling
    assert page.eval_on_selector("[data-testid=screening-number]", ONE_LINE)
    button.click()
    page.wait_for_selector("[data-testid=subject-number]")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=f"/tmp/phone-result-{label}.png")
    allocation = Allocation.objects.get(screening=screening)
    assert allocation.arm == label
    assert page.inner_text("[data-testid=subject-number]") == allocation.subject.number
    assert page.eval_on_selector("[data-testid=subject-number]", ONE_LINE)
    assert page.inner_text("[data-testid=arm]") == Arm(label).label
    assert page.eval_on_selector("[data-testid=arm]", WORDS_WHOLE)
    assert page.eval_on_selector("[data-testid=arm]", "e => parseFloat(getComputedStyle(e).fontSize)") >= 32  # scaled to fit, still large
    for testid in ("enter-v1", "open-casebook"):
        link = page.locator(f"[data-testid={testid}]").bounding_box()
        assert link["y"] + link["height"] <= PHONE[1], testid
    page.click("[data-testid=enter-v1]")
    page.wait_for_load_state("networkidle")
    assert f"/subjects/{allocation.subject.number}/form/V1/" in page.url
