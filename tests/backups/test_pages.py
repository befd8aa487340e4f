"""The administrators' backup page: history, last drill, back up now; nobody else sees it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backups import services
from backups.models import BackupSet, BackupState, RestoreDrill

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_sees_history_with_size_checksum_target_verified_and_the_last_drill(client_for, backup_folders):
    first = services.backup_scheduled(slot="daily:2026-12-20")
    RestoreDrill.objects.create(set_id=first.set_id, backup_set=first, into="postgres@socket/drill", ok=True,
                                tables=67, rows=431, seconds=1.5)
    RestoreDrill.objects.create(set_id=first.set_id, into="postgres@socket/later", ok=False, error="ChecksumMismatch: x")
    client = client_for("admin")
    page = client.get("/backups/").content.decode()
    assert first.set_id in page
    assert first.manifest_sha256[:16] in page
    assert f"local:{backup_folders / 'backups'}" in page
    assert "Succeeded" in page and "✓" in page
    assert 'data-testid="last-drill"' in page and "postgres@socket/drill" in page  # the last *successful* one
    assert "No successful backup in the last" not in page
    assert "core_user" not in page  # no per-table counts on the page (blinded administrator)


def test_page_shows_missing_backup_and_failed_sets(client_for, backup_folders):
    from django.utils import timezone

    BackupSet.objects.create(slot="daily:2026-12-21", set_id="daily-2026-12-21", kind="scheduled",
                             state=BackupState.FAILED, started_at=timezone.now(), error="BackupFailed: disk full")
    page = client_for("admin").get("/backups/").content.decode()
    assert "No successful backup in the last 26 hours" in page
    assert "BackupFailed: disk full" in page
    assert "No restore drill has succeeded yet." in page


def test_history_page_queries_do_not_grow_with_rows(client_for, backup_folders):
    from django.utils import timezone

    client = client_for("admin")

    def add(n, start):
        for i in range(n):
            BackupSet.objects.create(slot=f"manual:{start + i}", set_id=f"manual-{start + i}", kind="manual",
                                     state=BackupState.SUCCEEDED, started_at=timezone.now(),
                                     finished_at=timezone.now(), size_bytes=10, requested_by_id=None)

    add(2, 0)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/backups/").status_code == 200
    add(40, 100)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/backups/").status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("username", ["coord001", "inv001", "assessor001", "monitor", "datamanager", "statistician"])
def test_only_administrators_reach_the_backup_pages(client_for, username):
    client = client_for(username)
    assert client.get("/backups/").status_code == 403
    assert client.post("/backups/now/").status_code == 403
    assert not BackupSet.objects.exists()


def test_back_up_now_takes_a_set_in_the_worker_and_is_audited(client_for, backup_folders):
    from audit.models import AuditEvent

    client = client_for("admin")
    response = client.post("/backups/now/")
    assert response.status_code == 302 and response["Location"] == "/backups/"
    backup_set = BackupSet.objects.get()  # eager Celery in tests: the task ran after commit
    assert backup_set.kind == "manual" and backup_set.state == BackupState.SUCCEEDED
    assert backup_set.requested_by.username == "admin"
    assert AuditEvent.objects.filter(summary__startswith="Backup requested", actor_username="admin").count() == 1
    assert client.get("/backups/now/").status_code == 405


def test_blinded_administrator_receives_no_arm_from_the_backup_page_or_alerts(client_for, backup_folders, settings,
                                                                                tmp_path):
    """The administrator is blinded: the page, the notices and the e-mails of backups show no
    per-table counts (a count of an arm-only form would reveal the split) and no arm."""
    import io

    from django.core import mail
    from django.core.management import call_command

    from core.models import Notification
    from randomization.models import Allocation, Arm
    from tests.backups.test_drill import failing_pg_dump

    call_command("seed_demo", subjects=4, stdout=io.StringIO())
    assert Allocation.objects.count() == 4
    services.backup_scheduled(slot="daily:2026-12-22")
    settings.EDC_PG_BIN_DIR = str(failing_pg_dump(tmp_path / "bin"))
    with pytest.raises(services.BackupFailed):
        services.backup_scheduled(slot="daily:2026-12-23")
    client = client_for("admin")
    received = [client.get("/backups/").content.decode()]
    received += [f"{n.title} {n.body}" for n in Notification.objects.filter(user__username="admin")]
    received += [f"{m.subject} {m.body}" for m in mail.outbox]
    assert len(received) >= 3
    for text in received:
        for arm in Arm:
            assert arm.value not in text and str(arm.label) not in text
        assert "row_counts" not in text and "randomization_allocation" not in text
