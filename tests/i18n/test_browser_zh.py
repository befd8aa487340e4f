"""The screening form in zh-hans in a real browser (Chromium), with the CJK font installed
(fonts-noto-cjk, .ci/run): signed in through the real form by a Chinese-preferring
coordinator, the page is Chinese and a screenshot is kept (ZH_SCREENSHOT=path to choose it)."""

import os
import subprocess

import pytest

from core.models import User
from tests.conftest import PASSWORD
from tests.i18n.visible import CJK, untranslated_lines

pytestmark = pytest.mark.django_db(transaction=True)


def test_screening_form_in_chinese_in_chromium(browser, live_server, personas, tmp_path):
    User.objects.filter(username="coord001").update(preferred_language="zh-hans")
    # A browser set up in Chinese (date inputs, too); the EDC language comes from the user.
    context = browser.new_context(viewport={"width": 1024, "height": 1400}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/account/login/")
    assert page.locator("select[name=language]").count() == 1  # the switcher on the sign-in page
    page.fill("#id_username", "coord001")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/screening/new/")
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "zh-hans"
    assert page.locator("h1").first.inner_text().startswith("新建筛选")
    # The glyphs come from a CJK font, not from tofu boxes: fontconfig has one for Chinese.
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert "CJK" in fonts, "install fonts-noto-cjk (.ci/run does it)"
    text = page.inner_text("body")
    assert "最后正常时间" in text and "动脉穿刺" in text and "NIHSS" in text
    assert not untranslated_lines(page.content())
    path = os.environ.get("ZH_SCREENSHOT") or str(tmp_path / "screening-zh.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000 and CJK.search(text)
    context.close()
