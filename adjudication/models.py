"""Central adjudication: uploaded material, cases (worklist tasks), reads, reader
affiliations and DSMB snapshots.

Material and reads are tracked (append-only history, no hard delete). A final read is locked
by PostgreSQL itself: an UPDATE of a row whose status was already "final" is refused.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from adjudication.protocol import KIND_CHOICES, MATERIAL_LABELS
from audit.tracking import track

MATERIAL_CHOICES = list(MATERIAL_LABELS.items())


class FileKind(models.TextChoices):
    DICOM = "dicom", _("DICOM")
    IMAGE = "image", _("Image")
    AUDIO = "audio", _("Audio recording")
    VIDEO = "video", _("Video recording")


@track()
class Material(models.Model):
    """One de-identified file uploaded by a site for a subject's visit."""

    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="+")
    category = models.CharField(_("material"), max_length=20, choices=MATERIAL_CHOICES)
    kind = models.CharField(_("file type"), max_length=8, choices=FileKind.choices)
    content_type = models.CharField(max_length=80)
    # A neutral name ("V3-0001.dcm"): the file name a site chose may carry the patient's name.
    display_name = models.CharField(_("file"), max_length=80)
    storage_name = models.CharField(max_length=300, unique=True, editable=False)
    size = models.BigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, help_text=_("Checksum of the stored file."))
    deidentified = models.JSONField(default=list, blank=True,
                                    help_text=_("DICOM attributes removed or emptied before storage."))
    reveals_arm = models.BooleanField(default=False, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject_id", "category", "id"]
        indexes = [models.Index(fields=["subject", "category"])]

    def __str__(self) -> str:
        return self.display_name


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Awaiting two independent reads")
    DISAGREEMENT = "disagreement", _("Reads disagree: third read or consensus")
    FINAL = "final", _("Final")


class Resolution(models.TextChoices):
    AGREEMENT = "agreement", _("Two reads agreed")
    THIRD_READ = "third_read", _("Third read")
    CONSENSUS = "consensus", _("Consensus meeting")


@track()
class Case(models.Model):
    """One subject's endpoint to adjudicate: a task in one worklist."""

    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("task"), max_length=20, choices=KIND_CHOICES)
    status = models.CharField(_("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    # Reads claimed so far (the worklist filters on it without counting rows per case).
    reads_claimed = models.PositiveSmallIntegerField(default=0)
    final_values = models.JSONField(default=dict, blank=True)
    resolution = models.CharField(max_length=12, choices=Resolution.choices, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    query = models.ForeignKey("datamanagement.Query", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", help_text=_("Query sent to the site when the read contradicts eligibility."))
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["subject", "kind"], name="adjudication_case_once")]
        indexes = [models.Index(fields=["kind", "status", "site"])]

    def __str__(self) -> str:
        return f"C{self.pk:06d}"

    @property
    def reference(self) -> str:
        return f"C{self.pk:06d}"


class ReadRole(models.TextChoices):
    INDEPENDENT = "independent", _("Independent read")
    THIRD = "third", _("Third read")
    CONSENSUS = "consensus", _("Consensus")


class ReadStatus(models.TextChoices):
    DRAFT = "draft", _("In progress")
    FINAL = "final", _("Final")


@track()
@pgtrigger.register(pgtrigger.Protect(name="final_read_locked", operation=pgtrigger.Update,
                                      condition=pgtrigger.Q(old__status="final")))
class Read(models.Model):
    """One reader's read of one case. Independent reads are numbered 1 and 2; the third read
    or the consensus is number 3. Final reads are locked (the trigger above)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reads")
    number = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=12, choices=ReadRole.choices, default=ReadRole.INDEPENDENT)
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=6, choices=ReadStatus.choices, default=ReadStatus.DRAFT)
    values = models.JSONField(default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)
    claimed_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["case_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="adjudication_read_slot"),
            models.UniqueConstraint(fields=["case", "reader"], condition=~models.Q(role="consensus"),
                                    name="adjudication_read_once_per_reader"),
        ]
        indexes = [models.Index(fields=["reader", "status"])]


@track()
class ReaderAffiliation(models.Model):
    """The hospital a central reader works at: he never reads that site's cases (nor those of
    any site where he holds a membership)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="reader_affiliation_once")]


@pgtrigger.register(pgtrigger.Protect(name="snapshot_frozen", operation=pgtrigger.Update | pgtrigger.Delete))
class DsmbSnapshot(models.Model):
    """A data cut-off frozen by the statistician: the per-subject rows every DSMB report of
    this cut-off is computed from (so the reports can be reproduced). Never changed."""

    cut_off = models.DateTimeField(_("data cut-off"))
    taken_at = models.DateTimeField(auto_now_add=True)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rows = models.JSONField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-taken_at", "-id"]
