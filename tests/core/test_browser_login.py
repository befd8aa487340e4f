import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_coordinator_signs_in_and_sees_role_site_and_zone(login_page):
    page = login_page("coord001")
    who = page.locator("[data-testid=whoami]").inner_text()
    assert "coord001" in who and "Site coordinator (001)" in who and "Asia/Shanghai" in who
    assert page.locator("text=Screening").first.is_visible()


def test_statistician_enrols_totp_by_qr_code_then_reaches_home(login_page):
    page = login_page("statistician")
    assert "/account/2fa/" not in page.url
    assert "Unblinded statistician" in page.locator("[data-testid=whoami]").inner_text()
