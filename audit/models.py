import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    LOGIN = "login", _("Signed in")
    LOGIN_FAILED = "login_failed", _("Failed sign-in")
    LOGOUT = "logout", _("Signed out")
    IDLE_TIMEOUT = "idle_timeout", _("Session timed out")
    LOCKOUT = "lockout", _("Account locked out")
    UNLOCK = "unlock", _("Account unlocked")
    TWO_FACTOR_ENROLLED = "2fa_enrolled", _("Two-factor device enrolled")
    TWO_FACTOR_FAILED = "2fa_failed", _("Wrong two-factor code")
    PASSWORD_SET = "password_set", _("Password set by an administrator")
    MEMBERSHIP_CHANGED = "membership_changed", _("Membership changed")
    SCREENING = "screening", _("Screening event")
    RANDOMIZED = "randomized", _("Randomized")
    ALLOCATION_LIST = "allocation_list", _("Allocation list event")
    BLINDING_BREACH = "blinding_breach", _("Blinding breach reported")
    SIGNATURE = "signature", _("Electronic signature")
    LOCK = "lock", _("Lock / unlock")
    EXPORT = "export", _("Export")
    QUERY = "query", _("Query event")
    OTHER = "other", _("Other")


@pgtrigger.register(
    pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
)
class AuditEvent(models.Model):
    """An action worth recording that is not a row change (SPEC §8; 21 CFR 11.10(e)).

    Row changes are recorded by the pghistory triggers; this table records who signed in,
    who randomized, exported, signed, locked... Append-only: PostgreSQL refuses UPDATE and
    DELETE on it. Entries that would reveal the allocation are flagged and hidden from
    blinded users by audit.selectors.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(max_length=150, blank=True)
    site = models.ForeignKey("core.Site", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    reveals_allocation = models.BooleanField(default=False)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.UUIDField(null=True, blank=True, default=None)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_username}"


def new_request_id() -> uuid.UUID:
    return uuid.uuid4()


class ChainLink(models.Model):
    """One link of the tamper-evident audit chain (audit/chain.py).

    Written only by the PostgreSQL trigger function edc_audit_chain_link() at commit time, one
    link per audit record (every pghistory event row, every AuditEvent, every version of a
    pghistory context). `row_hash` is the SHA-256 of the record as stored; `hash` chains it to
    the previous link. `python manage.py audit_verify` recomputes both.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    table_name = models.CharField(max_length=63)
    row_id = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)
    # The record's number of columns when it was linked: columns a later migration adds are
    # not part of its hash (null: linked before this was kept — every column).
    ncols = models.SmallIntegerField(null=True)
    # How row_hash was made (audit/chain.py): 2 = over the record's text; null = over its jsonb
    # text (links written before the record-text format).
    fmt = models.SmallIntegerField(null=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["table_name", "row_id"], name="audit_chain_row")]

    def __str__(self) -> str:
        return f"{self.id} {self.table_name}#{self.row_id} {self.hash[:12]}"
