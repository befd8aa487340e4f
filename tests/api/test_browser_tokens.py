"""In the browser: a coordinator creates a token on the API tokens page, copies it (shown
once), uses it from a script, revokes it; the Swagger docs load from vendored assets."""

import re

import pytest
import requests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_token_page_create_use_revoke_and_docs(login_page, personas, tmp_path):
    shots = __import__("os").environ.get("EDC_SCREENSHOT_DIR") or str(tmp_path)
    page = login_page("coord001")
    page.click("text=API tokens")
    page.fill("#id_label", "R analysis script")
    page.click("[data-testid=token-create]")
    token = page.inner_text("[data-testid=new-token]").strip()
    assert re.fullmatch(r"[0-9A-F]{32}", token)
    page.screenshot(path=f"{shots}/api-tokens.png", full_page=True)
    url = page.inner_text("[data-testid=api-url]").strip()
    assert url.endswith("/api/")
    answer = requests.post(url, data={"token": token, "content": "version"}, timeout=30)
    assert answer.status_code == 200 and answer.text == "14.0.0"
    page.goto(page.live_url + "/api/tokens/")
    assert token not in page.content()
    assert page.locator("[data-testid=token-row]").count() == 1
    page.click("[data-testid=token-revoke]")
    page.wait_for_load_state("networkidle")
    assert "revoked" in page.inner_text("[data-testid=token-list]")
    assert requests.post(url, data={"token": token, "content": "version", "format": "json"},
                         timeout=30).status_code == 401
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page.live_url + "/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30000)
    assert page.locator(".opblock").count() >= 17
    page.screenshot(path=f"{shots}/api-docs.png")
    assert not [e for e in errors if "Content Security Policy" in e]
