"""Allocation lists, their entries and allocations (SPEC §5), the trial's randomization
configuration and blinding-breach reports (their notices: core.Notification).

The treatment arm is stored only in AllocationEntry and Allocation. Both are deliberately NOT
tracked by pghistory (its event tables are generic and would copy the arm into every audit
view); instead PostgreSQL triggers make them tamper-proof (no delete, no change of an entry
once written except marking it used, allocations append-only), and every randomization writes
an audit.AuditEvent with reveals_allocation=True. Reverse accessors from Subject and Screening
are disabled (`related_name="+"`), so no template or query can reach the arm by
`subject.allocation` or order/filter subjects by arm; reads go through
randomization.selectors, which apply the blinding matrix.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.tracking import track


class Arm(models.TextChoices):
    STENTING = "STENTING", _("Stenting or angioplasty")
    CONTINUED_MT = "CONTINUED_MT", _("Continued thrombectomy")


class Method(models.TextChoices):
    BLOCKS = "blocks", _("Stratified permuted blocks")
    MINIMISATION = "minimisation", _("Pocock–Simon minimisation")


class ListSource(models.TextChoices):
    GENERATED = "generated", _("Generated from a seed")
    IMPORTED = "imported", _("Imported from CSV")


class TrialConfig(models.Model):
    """The trial's randomization settings, in one place (one row, pk=1).

    The method may be changed by the statistician only before the first allocation.
    """

    method = models.CharField(_("randomization method"), max_length=16, choices=Method.choices,
                              default=Method.BLOCKS)
    minimisation_p = models.DecimalField(
        _("minimisation random element"), max_digits=3, decimal_places=2, default=0.80,
        help_text=_("Probability of giving the arm that minimises imbalance (0.5–1.0)."))
    low_stratum_threshold = models.PositiveSmallIntegerField(
        _("low-stratum alert threshold"), default=10,
        help_text=_("Alert the statistician when fewer entries than this are left in a stratum."))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="trial_config_single_row")]

    @classmethod
    def current(cls) -> "TrialConfig":
        return cls.objects.get_or_create(pk=1)[0]


@pgtrigger.register(
    pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),
    pgtrigger.Protect(name="fingerprint_immutable", operation=pgtrigger.Update,
                      condition=pgtrigger.AnyChange("seed", "parameters", "sha256", "source", "created_by")),
    pgtrigger.Protect(name="frozen_stays_frozen", operation=pgtrigger.Update,
                      condition=pgtrigger.Q(old__frozen=True, new__frozen=False)),
)
class AllocationList(models.Model):
    name = models.CharField(_("name"), max_length=120)
    source = models.CharField(max_length=10, choices=ListSource.choices)
    seed = models.CharField(_("seed"), max_length=200, blank=True)
    parameters = models.JSONField(_("parameters"), default=dict)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    frozen = models.BooleanField(_("frozen"), default=False,
                                 help_text=_("Set when the first entry is used; the list can no longer change."))
    active = models.BooleanField(_("in use"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


@pgtrigger.register(
    pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete),
    pgtrigger.Protect(name="entry_immutable", operation=pgtrigger.Update,
                      condition=pgtrigger.AnyChange("list", "stratum", "sequence", "block", "block_size", "arm",
                                                    "stratum_size")),
    pgtrigger.Protect(name="used_stays_used", operation=pgtrigger.Update,
                      condition=pgtrigger.Q(old__used=True)),
)
class AllocationEntry(models.Model):
    list = models.ForeignKey(AllocationList, on_delete=models.PROTECT, related_name="entries")
    stratum = models.CharField(_("stratum"), max_length=16)  # "{site}-{circulation}"
    sequence = models.PositiveIntegerField(_("sequence"))  # 1, 2, 3… within the stratum
    block = models.PositiveIntegerField(_("block"))
    block_size = models.PositiveSmallIntegerField(_("block size"))
    arm = models.CharField(_("arm"), max_length=12, choices=Arm.choices)
    used = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)
    stratum_size = models.PositiveIntegerField(default=0)  # entries of this stratum in this list

    class Meta:
        ordering = ["list", "stratum", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["list", "stratum", "sequence"], name="allocation_entry_position_unique"),
        ]
        indexes = [
            # The randomization service's lookup: next unused entry of a stratum.
            models.Index(fields=["stratum", "list", "sequence"], condition=models.Q(used=False),
                         name="allocation_entry_next_unused"),
        ]

    def __str__(self) -> str:
        return f"{self.list_id}:{self.stratum}#{self.sequence}"


@pgtrigger.register(
    pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
)
class Allocation(models.Model):
    """One screening, one subject, one list entry, forever (UNIQUE on each)."""

    screening = models.OneToOneField("eligibility.Screening", on_delete=models.PROTECT, related_name="+")
    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField(AllocationEntry, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    method = models.CharField(max_length=16, choices=Method.choices)
    arm = models.CharField(_("arm"), max_length=12, choices=Arm.choices)
    stratum = models.CharField(_("stratum"), max_length=16)
    factors = models.JSONField(default=dict)  # minimisation factor levels of this subject
    minimisation_detail = models.JSONField(default=dict, blank=True)  # scores and draw
    randomized_at = models.DateTimeField(_("randomized at"), db_index=True)
    randomized_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-randomized_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(method="blocks", entry__isnull=False)
                           | models.Q(method="minimisation", entry__isnull=True)),
                name="allocation_entry_matches_method"),
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk}"


class BreachRoute(models.TextChoices):
    TOLD = "told", _("Told by patient, family or staff")
    DOCUMENT = "document", _("Saw a document, CRF or report")
    IMAGING = "imaging", _("Saw imaging showing a stent or device")
    OVERHEARD = "overheard", _("Overheard a conversation")
    SYSTEM = "system", _("Saw it in the EDC or an export")
    OTHER = "other", _("Other")


@track()
class BlindingBreach(models.Model):
    """A report that a blinded person may have learned a subject's arm (who, when, how).

    Anyone may file one; it is audited. The day-90 form refers to it (selectors.breaches_for_subject).
    """

    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("core.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("subject"))
    unblinded_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", verbose_name=_("person unblinded (EDC user)"))
    unblinded_person = models.CharField(_("person unblinded (if not an EDC user)"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("when it happened"))
    route = models.CharField(_("how"), max_length=12, choices=BreachRoute.choices)
    description = models.TextField(_("what happened"))
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return f"blinding breach {self.pk}"


class SimulationStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for the worker")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SimulationMethod(models.TextChoices):
    BLOCKS = "blocks", _("Stratified permuted blocks")
    MINIMISATION = "minimisation", _("Pocock–Simon minimisation")
    BOTH = "both", _("Both methods, side by side")


@pgtrigger.register(pgtrigger.Protect(name="no_hard_delete", operation=pgtrigger.Delete))
class SimulationRun(models.Model):
    """One run of the statistician's simulation of the randomization method
    (randomization.simulation; SPEC §5): its parameters, progress and result, kept so the page
    can be reopened and the method's justification cited. Synthetic patients only: it holds
    no subject and no real allocation. Started by randomization.services.simulation_start
    (audited), computed by a Celery task."""

    method = models.CharField(_("method"), max_length=16, choices=SimulationMethod.choices)
    subjects = models.PositiveIntegerField(_("subjects per simulated trial"))
    sites = models.PositiveSmallIntegerField(_("sites"))
    runs = models.PositiveIntegerField(_("simulated trials"))
    seed = models.BigIntegerField(_("seed"))
    minimisation_p = models.DecimalField(_("minimisation random element"), max_digits=3, decimal_places=2)
    status = models.CharField(_("status"), max_length=8, choices=SimulationStatus.choices,
                              default=SimulationStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    result = models.JSONField(default=dict, blank=True)  # {method: simulation.summarize(...)}
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(progress__lte=100),
                                              name="simulation_progress_percent")]

    def __str__(self) -> str:
        return f"simulation {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (SimulationStatus.DONE, SimulationStatus.FAILED)

    @property
    def methods(self) -> list[str]:
        return ["blocks", "minimisation"] if self.method == SimulationMethod.BOTH else [self.method]
