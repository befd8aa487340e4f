import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.tracking import track
from core.roles import Role


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not an IANA time zone name."), params={"value": value})


class User(AbstractUser):
    """A person who signs in. Roles and sites come from Membership rows, never from flags."""

    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    # Set when an administrator invites the user or resets the password: the next sign-in
    # leads to "choose your own password" before anything else (core.forced_change).
    must_change_password = models.BooleanField(_("must change password at next sign-in"), default=False)

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username


@track()
class Site(models.Model):
    code = models.CharField(
        _("site code"), max_length=3, unique=True,
        validators=[RegexValidator(r"^\d{3}$", _("A site code is 3 digits, e.g. 001."))],
    )
    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    enrollment_target = models.PositiveIntegerField(_("enrollment target"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


@track()
class Membership(models.Model):
    """A (user, role, site) grant. site NULL means all sites (for the all-site roles)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("site"),
                             related_name="memberships", help_text=_("Empty means all sites."))
    active = models.BooleanField(_("active"), default=True)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        ordering = ["user__username", "role"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "site"], name="membership_unique"),
            models.UniqueConstraint(fields=["user", "role"], condition=models.Q(site__isnull=True),
                                    name="membership_unique_all_sites"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.site.code if self.site else _('all sites')}"


class SubjectStatus(models.TextChoices):
    ON_STUDY = "on_study", _("On study")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    LOST = "lost", _("Lost to follow-up")
    DEAD = "dead", _("Died")


@track()
class Subject(models.Model):
    """A randomized participant. The arm is NOT here: it lives on randomization.Allocation,
    reachable only through selectors that apply the blinding matrix."""

    number = models.CharField(_("subject number"), max_length=8, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    randomized_at = models.DateTimeField(_("randomized at"))
    status = models.CharField(max_length=12, choices=SubjectStatus.choices, default=SubjectStatus.ON_STUDY)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        indexes = [models.Index(fields=["site", "randomized_at"])]

    def __str__(self) -> str:
        return self.number


class SiteCounter(models.Model):
    """Per-site sequences for screening and subject numbers (SPEC §3).

    A row per (site, kind) is locked with SELECT … FOR UPDATE while the next number is taken,
    so two coordinators of one site can never get the same number, and numbers are never
    reused because the counter only moves forward inside the creating transaction.
    """

    site = models.ForeignKey(Site, on_delete=models.PROTECT)
    kind = models.CharField(max_length=20)
    value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "kind"], name="site_counter_unique")]


# --- In-app notifications (the one inbox) ---------------------------------------------------------


class EmailState(models.TextChoices):
    NONE = "none", _("No e-mail")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """An in-app message for one user, and the e-mail that carries it — every kind (visit
    reminders, query notices, randomization notices) lives here and shows in one inbox.

    `key` names the event a notice is about ("reminder:<id>", "randomized:<allocation id>",
    "breach:<id>", …). When it is not blank, UNIQUE (user, key) makes the notice exactly-once
    per person, whatever the number of concurrent writers. `email_state` is the claim of the
    e-mail: a sender moves `queued → sending` with a conditional UPDATE before sending and
    `sending → sent` after, so each e-mail goes out at most once (core.services).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications")
    key = models.CharField(max_length=120, blank=True)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=8, choices=EmailState.choices, default=EmailState.QUEUED)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    # When a sender claimed the e-mail (queued → sending): the lease is measured from here, not
    # from the notice's creation (a notice may wait in the queue long before it is sent).
    email_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], condition=~models.Q(key=""),
                                               name="notification_once_per_user_key")]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_read"),
            models.Index(fields=["email_state"], name="notification_email_pending",
                         condition=models.Q(email_state__in=["queued", "sending"])),
        ]

    def __str__(self) -> str:
        return self.title
