"""The screening CRF (SPEC §4): raw values, never pre-judged yes/no boxes where a value exists.

The verdict fields are derived by eligibility.rules.evaluate() and stored by the services, so
the screening log and the randomization service can read them without re-evaluating.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.tracking import track


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class OcclusionSite(models.TextChoices):
    ICA_INTRACRANIAL = "ICA_intracranial", _("Intracranial ICA")
    MCA_M1 = "MCA_M1", _("MCA M1")
    VA_V4 = "VA_V4", _("Vertebral artery V4")
    BA = "BA", _("Basilar artery")
    OTHER = "other", _("Other")


class Circulation(models.TextChoices):
    ANTERIOR = "anterior", _("Anterior")
    POSTERIOR = "posterior", _("Posterior")


class Consent(models.TextChoices):
    PATIENT = "patient", _("Patient")
    LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
    NONE = "none", _("Not obtained")


class CreatinineUnit(models.TextChoices):
    UMOL_L = "umol/L", "µmol/L"
    MG_DL = "mg/dL", "mg/dL"


class Technique(models.TextChoices):
    CONTACT_ASPIRATION = "contact_aspiration", _("Contact aspiration")
    STENT_RETRIEVER = "stent_retriever", _("Stent retriever")
    COMBINED = "combined", _("Combined")


class ETICI(models.TextChoices):
    G0 = "0", "0"
    G1 = "1", "1"
    G2A = "2a", "2a"
    G2B50 = "2b50", "2b50"
    G2B67 = "2b67", "2b67"
    G2C = "2c", "2c"
    G3 = "3", "3"


class VerdictStatus(models.TextChoices):
    ELIGIBLE = "eligible", _("Eligible")
    INELIGIBLE = "ineligible", _("Ineligible")
    INCOMPLETE = "incomplete", _("Incomplete")


class ScreeningOutcome(models.TextChoices):
    OPEN = "open", _("In progress")
    RANDOMIZED = "randomized", _("Randomized")
    CLOSED_INELIGIBLE = "ineligible", _("Closed: ineligible")
    CLOSED_CONSENT_REFUSED = "consent_refused", _("Closed: consent refused")
    CLOSED_RECANALIZED = "recanalized", _("Closed: recanalized after the third pass")
    CLOSED_OTHER = "other", _("Closed: other")


@track()
class Screening(models.Model):
    site = models.ForeignKey("core.Site", on_delete=models.PROTECT, related_name="screenings")
    number = models.CharField(_("screening number"), max_length=9, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)  # optimistic locking

    # --- patient and history
    age_years = models.PositiveSmallIntegerField(_("age (years)"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices, blank=True)
    prestroke_mrs = models.PositiveSmallIntegerField(_("pre-stroke mRS"), null=True, blank=True)

    # --- stroke and imaging
    last_known_well = models.DateTimeField(_("last known well"), null=True, blank=True)
    arterial_puncture_at = models.DateTimeField(_("arterial puncture"), null=True, blank=True)
    nihss_items = models.JSONField(_("NIHSS items"), default=dict, blank=True)
    nihss_baseline = models.PositiveSmallIntegerField(_("NIHSS total"), null=True, blank=True)
    nihss_un_reason = models.TextField(_("explanation for items scored UN"), blank=True)
    occlusion_site = models.CharField(_("occlusion site"), max_length=20, choices=OcclusionSite.choices, blank=True)
    circulation = models.CharField(_("circulation"), max_length=10, choices=Circulation.choices, blank=True)
    aspects = models.PositiveSmallIntegerField(_("ASPECTS"), null=True, blank=True)
    pc_aspects = models.PositiveSmallIntegerField(_("pc-ASPECTS"), null=True, blank=True)
    evt_intended = models.BooleanField(_("EVT intended"), null=True, blank=True)

    # --- labs (None with *_pending True means "pending")
    platelets = models.DecimalField(_("platelets (×10⁹/L)"), max_digits=6, decimal_places=1, null=True, blank=True)
    platelets_pending = models.BooleanField(default=False)
    aptt = models.DecimalField(_("aPTT (s)"), max_digits=5, decimal_places=1, null=True, blank=True)
    aptt_pending = models.BooleanField(default=False)
    inr = models.DecimalField(_("INR"), max_digits=4, decimal_places=2, null=True, blank=True)
    inr_pending = models.BooleanField(default=False)
    gfr = models.DecimalField(_("GFR (mL/min)"), max_digits=5, decimal_places=1, null=True, blank=True)
    gfr_pending = models.BooleanField(default=False)
    creatinine = models.DecimalField(_("creatinine"), max_digits=6, decimal_places=2, null=True, blank=True)
    creatinine_unit = models.CharField(_("creatinine unit"), max_length=8, choices=CreatinineUnit.choices, blank=True)
    creatinine_pending = models.BooleanField(default=False)
    lab_pending_attested = models.BooleanField(_("no clinical suspicion of coagulopathy / renal failure"), default=False)
    lab_pending_attested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                                on_delete=models.PROTECT, related_name="+")
    lab_pending_attested_at = models.DateTimeField(null=True, blank=True)

    # --- exclusions (booleans, None = not answered)
    ich_on_imaging = models.BooleanField(null=True, blank=True)
    fpct_major_hemorrhage = models.BooleanField(null=True, blank=True)
    gi_gu_bleeding_30d = models.BooleanField(null=True, blank=True)
    major_surgery_14d = models.BooleanField(null=True, blank=True)
    doac_48h = models.BooleanField(null=True, blank=True)
    hit_history = models.BooleanField(null=True, blank=True)
    pregnant_or_lactating = models.BooleanField(null=True, blank=True)
    contrast_contraindication = models.BooleanField(null=True, blank=True)
    nickel_titanium_allergy = models.BooleanField(null=True, blank=True)
    life_expectancy_lt_6m = models.BooleanField(null=True, blank=True)
    confounding_neuro_psych = models.BooleanField(null=True, blank=True)
    tortuosity_prevents_delivery = models.BooleanField(null=True, blank=True)
    unlikely_90d_followup = models.BooleanField(null=True, blank=True)

    # --- consent
    consent = models.CharField(_("consent"), max_length=24, choices=Consent.choices, blank=True)
    consent_at = models.DateTimeField(_("consent time"), null=True, blank=True)

    # --- derived verdict (stored by the services from rules.evaluate)
    verdict_status = models.CharField(max_length=12, choices=VerdictStatus.choices, default=VerdictStatus.INCOMPLETE)
    verdict_failed = models.JSONField(default=list, blank=True)
    verdict_missing = models.JSONField(default=list, blank=True)
    verdict_warnings = models.JSONField(default=list, blank=True)

    # --- workflow
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ScreeningOutcome.choices, default=ScreeningOutcome.OPEN)
    closed_reason_codes = models.JSONField(default=list, blank=True)
    closed_reason_text = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["site", "created_at"]), models.Index(fields=["outcome"])]

    def __str__(self) -> str:
        return self.number


@track()
class ScreeningPass(models.Model):
    """One thrombectomy pass before randomization (IN8)."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="passes")
    position = models.PositiveSmallIntegerField()
    technique = models.CharField(max_length=20, choices=Technique.choices)
    etici = models.CharField(_("eTICI after the pass"), max_length=4, choices=ETICI.choices)
    active = models.BooleanField(default=True)  # removed passes are deactivated, never deleted

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["screening", "position"], condition=models.Q(active=True),
                                    name="screening_pass_position_unique"),
        ]
