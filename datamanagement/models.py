"""Data-quality records kept beside the CRFs (SPEC §8): queries, source data verification,
electronic signatures and locks.

They are generic over the CRF registry (core.crf): a record points at a CRF instance by its
form code and primary key (plus the table name for the database-level lock trigger), and at
the subject and site so that lists are scoped and counted without touching the CRF tables.
Every model is tracked (pghistory) and never hard-deleted: a query is closed, an SDV mark is
cleared, a signature is broken, a lock is lifted — each with who, when and why.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from audit.tracking import track
from datamanagement.messages import render


class QueryStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("query status", "Open")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


class QueryOrigin(models.TextChoices):
    MANUAL = "manual", _("Raised by a reviewer")
    EDIT_CHECK = "edit_check", _("Edit check")


@track()
class Query(models.Model):
    """A question about one field of one CRF instance: open → answered → closed (or re-opened)."""

    crf_code = models.CharField(_("form"), max_length=40)
    object_id = models.BigIntegerField()
    field_name = models.CharField(_("field"), max_length=100)
    object_label = models.CharField(max_length=100, help_text=_("Subject or screening number."))
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("core.Subject", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=QueryStatus.choices,
                              default=QueryStatus.OPEN)
    origin = models.CharField(max_length=12, choices=QueryOrigin.choices, default=QueryOrigin.MANUAL)
    check_code = models.CharField(_("edit check"), max_length=40, blank=True)
    protocol_deviation = models.BooleanField(_("protocol deviation"), default=False)
    text = models.TextField(_("question"))
    # An edit check's question as msgid and parameters (datamanagement.messages): shown in the
    # reader's language; `text` keeps it in English (rows of manual queries: the raiser's words).
    text_msgid = models.TextField(blank=True, default="")
    text_params = models.JSONField(blank=True, default=dict)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["opened_at", "id"]
        verbose_name_plural = "queries"
        indexes = [
            models.Index(fields=["status", "site", "opened_at"]),
            models.Index(fields=["crf_code", "object_id"]),
            models.Index(fields=["subject", "status"]),
        ]
        constraints = [
            # An edit check opens at most one unresolved query per field: re-saving the same
            # unusual value must not pile up duplicates (backs the check in services).
            models.UniqueConstraint(
                fields=["crf_code", "object_id", "field_name", "check_code"],
                condition=Q(origin="edit_check") & ~Q(status="closed"),
                name="query_one_open_per_edit_check",
            ),
        ]

    def __str__(self) -> str:
        return f"Q{self.pk} {self.object_label} {self.crf_code}.{self.field_name}"

    @property
    def shown_text(self) -> str:
        """The question in the reader's language (an edit check's), else as written."""
        return render(self.text, self.text_msgid, self.text_params)


class MessageKind(models.TextChoices):
    OPEN = "open", _("Opened")
    ANSWER = "answer", _("Answered")
    CLOSE = "close", _("Closed")
    REOPEN = "reopen", _("Re-opened")
    COMMENT = "comment", _("Comment")
    CORRECTION = "correction", _("Value corrected")


@track()
class QueryMessage(models.Model):
    """One entry of a query's thread (append-only: a message is never edited)."""

    query = models.ForeignKey(Query, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=12, choices=MessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    text = models.TextField(blank=True)
    text_msgid = models.TextField(blank=True, default="")  # as Query.text_msgid
    text_params = models.JSONField(blank=True, default=dict)

    class Meta:
        ordering = ["at", "id"]

    @property
    def shown_text(self) -> str:
        """The text in the reader's language (a system message), else as written."""
        return render(self.text, self.text_msgid, self.text_params)


@track()
class SourceVerification(models.Model):
    """A monitor's mark that one field was checked against the source document (SDV).

    A later change of the field clears the mark (active=False) and says why, so the monitor
    sees what to verify again; the cleared row stays as history.
    """

    crf_code = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    field_name = models.CharField(max_length=100)
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("core.Subject", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(auto_now_add=True)
    verified_value = models.JSONField(null=True, blank=True)
    active = models.BooleanField(default=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["crf_code", "object_id", "field_name", "-verified_at"]
        indexes = [models.Index(fields=["crf_code", "object_id"]), models.Index(fields=["site", "active"])]
        constraints = [
            models.UniqueConstraint(fields=["crf_code", "object_id", "field_name"],
                                    condition=Q(active=True), name="sdv_one_active_per_field"),
        ]


class SignatureScope(models.TextChoices):
    VISIT = "visit", _("Visit")
    CASEBOOK = "casebook", _("Whole casebook")


@track()
class Signature(models.Model):
    """An investigator's electronic signature of one visit or of the whole casebook.

    21 CFR 11.50: the signed record shows the signer's printed name, the date and time and the
    meaning of the signature; 11.70: it is linked to the data it signs (content_digest over the
    signed forms' identities and versions), so a later change is detected and the signature is
    marked broken instead of silently covering new data.
    """

    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=10, choices=SignatureScope.choices)
    visit = models.CharField(max_length=8, blank=True)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(_("printed name"), max_length=300)
    signed_at = models.DateTimeField(auto_now_add=True)
    meaning = models.TextField(_("meaning"))
    content_digest = models.CharField(max_length=64)
    content = models.JSONField(default=list)
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["subject", "scope", "visit"])]

    @property
    def valid(self) -> bool:
        return self.broken_at is None


class LockLevel(models.TextChoices):
    FORM = "form", _("Form")
    SUBJECT = "subject", _("Subject")
    DATABASE = "database", _("Whole database")


@track()
class Lock(models.Model):
    """A data manager's lock. While active, the locked data is read-only for everyone
    (checked by datamanagement.locks.assert_unlocked in every CRF save, and by a trigger on
    every CRF table as the last line of defence)."""

    level = models.CharField(max_length=10, choices=LockLevel.choices)
    crf_code = models.CharField(max_length=40, blank=True)
    db_table = models.CharField(max_length=100, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    object_label = models.CharField(max_length=100, blank=True)
    subject = models.ForeignKey("core.Subject", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    site = models.ForeignKey("core.Site", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    reason = models.TextField(blank=True)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)
    unlocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlock_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-locked_at", "-id"]
        constraints = [
            # One active lock per target; two data managers pressing "lock" at once get one row.
            models.UniqueConstraint(fields=["level", "db_table", "object_id", "subject"],
                                    condition=Q(active=True), nulls_distinct=False,
                                    name="lock_one_active_per_target"),
        ]
        indexes = [models.Index(fields=["active", "level"])]
