"""An export: who asked for what, whether it is blinded, how far it got, and what was written.

The file itself lives under settings.EDC_EXPORT_DIR; `sha256` is its checksum, also written
into the audit event (SPEC §9: every export is itself audited).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportFormat(models.TextChoices):
    CSV = "csv", _("CSV (one table per form, analysis table, data dictionary)")
    ODM = "odm", _("CDISC ODM 1.3.2 XML with the complete audit trail")
    XPT = "xpt", _("SAS transport version 5 (XPT)")
    DTA = "dta", _("Stata (.dta)")
    SAV = "sav", _("SPSS (.sav)")
    DATASETJSON = "datasetjson", _("CDISC Dataset-JSON v1.1 (one file per table)")
    DEFINE = "define", _("CDISC Define-XML 2.1 (metadata of every dataset and variable)")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class Export(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="exports")
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    formats = models.JSONField(_("formats"), default=list)
    # Empty list = every form the export may contain.
    forms = models.JSONField(_("forms"), default=list, blank=True)
    # Site ids the export covers, fixed at request time from the user's scope (never "all"
    # implicitly: the list is what the user was allowed when asking).
    site_ids = models.JSONField(_("sites"), default=list)
    blinded = models.BooleanField(_("blinded"), default=True)
    # Language of the variable and value labels (Stata/SPSS/SAS labels, ODM names); codes and
    # variable names are the same in every language. The dictionary has both languages.
    label_language = models.CharField(_("label language"), max_length=10, default="en",
                                      choices=settings.LANGUAGES)
    status = models.CharField(_("status"), max_length=8, choices=ExportStatus.choices,
                              default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    step = models.CharField(_("current step"), max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=200, blank=True)  # relative to EDC_EXPORT_DIR
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["requested_by", "requested_at"])]

    def __str__(self) -> str:
        kind = "blinded" if self.blinded else "UNBLINDED"
        return f"{', '.join(self.formats)} ({kind}) by {self.requested_by_id} at {self.requested_at:%Y-%m-%d %H:%M}"

    @property
    def path(self):
        return settings.EDC_EXPORT_DIR / self.file_name if self.file_name else None

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.FAILED)
