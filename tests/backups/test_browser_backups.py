import os

import pytest

from backups.models import BackupSet, BackupState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_administrator_backs_up_now_from_the_page_and_sees_it_in_the_history(login_page, backup_folders):
    page = login_page("admin")
    page.click("a.nav-link:has-text('Backups')")
    assert "No backup has succeeded yet." in page.locator("[data-testid=last-backup]").inner_text()
    page.click("[data-testid=backup-now]")
    page.wait_for_load_state("networkidle")
    backup_set = BackupSet.objects.get()
    assert backup_set.state == BackupState.SUCCEEDED
    row = page.locator(f"tr[data-set='{backup_set.set_id}']")
    assert "Succeeded" in row.inner_text() and backup_set.manifest_sha256[:16] in row.inner_text()
    assert backup_set.set_id in page.locator("[data-testid=last-backup]").inner_text()
    if os.environ.get("EDC_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["EDC_SCREENSHOT_DIR"], "backups-history.png"), full_page=True)
