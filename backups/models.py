"""Backup history: one row per schedule slot (the claim that makes a backup exactly-once) and
one per restore drill. The sets themselves live on the target (backups.targets)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class BackupState(models.TextChoices):
    RUNNING = "running", pgettext_lazy("backup state", "Running")
    SUCCEEDED = "succeeded", pgettext_lazy("backup state", "Succeeded")
    FAILED = "failed", pgettext_lazy("backup state", "Failed")


class BackupKind(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Manual")


class BackupSet(models.Model):
    # The claim key: "daily:2026-12-01" for the scheduled backup of that day, "manual:<uuid>"
    # for one asked for on the page. UNIQUE: two beats of one slot insert one row.
    slot = models.CharField(max_length=64, unique=True)
    set_id = models.CharField(max_length=64, unique=True)  # folder on the target; --set ID
    kind = models.CharField(max_length=10, choices=BackupKind.choices)
    state = models.CharField(max_length=10, choices=BackupState.choices, default=BackupState.RUNNING)
    attempt = models.PositiveSmallIntegerField(default=1)  # >1: took over from a killed worker
    task_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    target = models.CharField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    encrypted = models.BooleanField(default=False)
    # The stored files were read back from the target and matched their checksums.
    verified_at = models.DateTimeField(null=True, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True)  # removed from the target by retention
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.set_id} ({self.state})"


class RestoreDrill(models.Model):
    """A restore of a set into an empty database, checked against the manifest."""

    set_id = models.CharField(max_length=64)
    backup_set = models.ForeignKey(BackupSet, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="drills")
    at = models.DateTimeField(auto_now_add=True)
    into = models.CharField(max_length=300)  # user@host/dbname, never the password
    ok = models.BooleanField()
    tables = models.PositiveIntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    chain_verified = models.BooleanField(null=True)  # None: no audit chain in this version
    seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"restore of {self.set_id} into {self.into}: {'ok' if self.ok else 'FAILED'}"
