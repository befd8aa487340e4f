"""Personal API tokens (issue 18).

A token is 32 upper-case hexadecimal characters (what REDCap clients check), shown once when
created and stored only as its SHA-256 digest. It acts exactly as its user: the API asks the
same selectors and services as the pages, with the user's roles, sites and blinding. Tokens
are never deleted: revoking one sets `revoked_at`; creation and revocation are tracked (row
history) and every request made with a token is an audit event (api.services.request_record).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.tracking import track


@track()
class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    label = models.CharField(_("label"), max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The last four characters, so a user can tell two tokens apart without the secret.
    hint = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label} (…{self.hint})"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
