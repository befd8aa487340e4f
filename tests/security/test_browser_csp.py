"""The Content-Security-Policy in a real browser: pages work (inline scripts with the nonce,
handlers bound by edc.js) and Chromium reports no CSP violation."""

import os

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SHOTS = os.environ.get("EDC_SCREENSHOT_DIR", "/tmp")


def test_pages_work_under_the_csp_without_violations(login_page, personas):
    page = login_page("coord001")
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(str(e)))
    response = page.goto(f"{page.live_url}/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]
    page.goto(f"{page.live_url}/screening/new/")
    page.wait_for_selector("#screening-form")
    # the inline script (nonce) runs: "add pass" adds a row
    before = page.locator("#passes .pass-row").count()
    page.click("#add-pass")
    assert page.locator("#passes .pass-row").count() == before + 1
    page.screenshot(path=f"{SHOTS}/i12_csp_screening.png", full_page=True)
    # the language switcher (data-autosubmit, bound by edc.js) still submits on change
    # (wait for the navigation the submit starts: waiting for "networkidle" alone could return
    # at once, on the still idle page, before the form was submitted)
    with page.expect_navigation():
        page.select_option("select[name=language]", "zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.screenshot(path=f"{SHOTS}/i12_csp_zh.png")
    assert not violations, violations
