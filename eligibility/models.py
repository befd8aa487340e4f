"""The screening CRF (SPEC §4): raw values, never pre-judged yes/no boxes where a value exists.

The verdict fields are derived by eligibility.rules.evaluate() and stored by the services, so
the screening log and the randomization service can read them without re-evaluating.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.tracking import track
from core import protocol as P
from core.choices import ETICI, Technique


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


class NihssEntry(models.TextChoices):
    """How the baseline NIHSS was entered (SPEC §4: the total, or the 15 items)."""

    TOTAL = P.NIHSS_ENTRY_TOTAL, _("Total typed")
    ITEMS = P.NIHSS_ENTRY_ITEMS, _("15 items (total derived)")


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
    site = models.ForeignKey(verbose_name=_("site"), to="core.Site", on_delete=models.PROTECT, related_name="screenings",
        help_text=_("Screening site."))
    number = models.CharField(_("screening number"), max_length=9, unique=True,
        help_text=_("{site}-S{nnnn}, given when the screening starts (SPEC §3)."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True,
        help_text=_("UTC."))
    created_by = models.ForeignKey(verbose_name=_("created by"), to=settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
        help_text=_("User who started the screening."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True,
        help_text=_("UTC."))
    version = models.PositiveIntegerField(_("version"), default=1,
        help_text=_("Optimistic locking: incremented by every save."))

    # --- patient and history
    age_years = models.PositiveSmallIntegerField(_("age (years)"), null=True, blank=True,
        help_text=_("Integer 0–120 years. IN1: ≥ 18."))
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices, blank=True,
        help_text=_("female / male. Pregnancy (EX4) is asked for female subjects only."))
    prestroke_mrs = models.PositiveSmallIntegerField(_("pre-stroke mRS"), null=True, blank=True,
        help_text=_("Integer 0–5. IN2: 0–1."))

    # --- stroke and imaging
    last_known_well = models.DateTimeField(_("last known well"), null=True, blank=True,
        help_text=_("Instant (UTC), entered in the site's zone. IN3."))
    arterial_puncture_at = models.DateTimeField(_("arterial puncture"), null=True, blank=True,
        help_text=_("Instant (UTC). IN3: puncture − last known well ≤ 24 h 0 min."))
    nihss_items = models.JSONField(_("NIHSS items"), default=dict, blank=True,
        help_text=_("The 15 NIHSS item scores {item: 0–4 or 'UN'} (SCALES.md)."))
    nihss_baseline = models.PositiveSmallIntegerField(_("NIHSS total"), null=True, blank=True,
        help_text=_("Integer 0–42: typed, or derived from the 15 items (UN counts 0). IN4: ≥ 6."))
    nihss_entry = models.CharField(_("NIHSS entered as"), max_length=5, choices=NihssEntry.choices, blank=True,
        help_text=_("Derived: 'total' when the total was typed, 'items' when the 15 items were scored."))
    nihss_un_reason = models.TextField(_("explanation for items scored UN"), blank=True,
        help_text=_("Required when an item is scored UN."))
    occlusion_site = models.CharField(_("occlusion site"), max_length=20, choices=OcclusionSite.choices, blank=True,
        help_text=_("ICA_intracranial, MCA_M1, VA_V4, BA, other. IN6: one of the first four."))
    circulation = models.CharField(_("circulation"), max_length=10, choices=Circulation.choices, blank=True,
        help_text=_("Derived from the occlusion site: ICA/M1 anterior, V4/BA posterior. IN5, stratum."))
    aspects = models.PositiveSmallIntegerField(_("ASPECTS"), null=True, blank=True,
        help_text=_("Integer 0–10, anterior circulation. IN5: ≥ 6."))
    pc_aspects = models.PositiveSmallIntegerField(_("pc-ASPECTS"), null=True, blank=True,
        help_text=_("Integer 0–10, posterior circulation. IN5: ≥ 6."))
    evt_intended = models.BooleanField(_("EVT intended"), null=True, blank=True,
        help_text=_("Yes/no. IN7."))

    # --- labs (None with *_pending True means "pending")
    platelets = models.DecimalField(_("platelets (×10⁹/L)"), max_digits=6, decimal_places=1, null=True, blank=True,
        help_text=_("0–2000 ×10⁹/L, 1 decimal. EX3: < 100 excludes."))
    platelets_pending = models.BooleanField(_("platelets pending"), default=False,
        help_text=_("Result not yet available (needs the attestation)."))
    aptt = models.DecimalField(_("aPTT (s)"), max_digits=5, decimal_places=1, null=True, blank=True,
        help_text=_("0–300 s, 1 decimal. EX3: > 50 s excludes."))
    aptt_pending = models.BooleanField(_("aPTT pending"), default=False,
        help_text=_("Result not yet available (needs the attestation)."))
    inr = models.DecimalField(_("INR"), max_digits=4, decimal_places=2, null=True, blank=True,
        help_text=_("0–20, 2 decimals. EX3: > 2.0 excludes."))
    inr_pending = models.BooleanField(_("INR pending"), default=False,
        help_text=_("Result not yet available (needs the attestation)."))
    gfr = models.DecimalField(_("GFR (mL/min)"), max_digits=5, decimal_places=1, null=True, blank=True,
        help_text=_("0–250 mL/min, 1 decimal. EX8: < 30 excludes."))
    gfr_pending = models.BooleanField(_("GFR pending"), default=False,
        help_text=_("Result not yet available (needs the attestation)."))
    creatinine = models.DecimalField(_("creatinine"), max_digits=6, decimal_places=2, null=True, blank=True,
        help_text=_("In the unit entered: 0–3000 µmol/L or 0–35 mg/dL. EX8: > 220 µmol/L or > 2.5 mg/dL excludes."))
    creatinine_unit = models.CharField(_("creatinine unit"), max_length=8, choices=CreatinineUnit.choices, blank=True,
        help_text=_("umol/L or mg/dL; required with a creatinine value."))
    creatinine_pending = models.BooleanField(_("creatinine pending"), default=False,
        help_text=_("Result not yet available (needs the attestation)."))
    lab_pending_attested = models.BooleanField(_("no clinical suspicion of coagulopathy / renal failure"), default=False,
        help_text=_("Investigator's attestation allowing pending labs (SPEC §4)."))
    lab_pending_attested_by = models.ForeignKey(verbose_name=_("attested by"), to=settings.AUTH_USER_MODEL, null=True, blank=True,
                                                on_delete=models.PROTECT, related_name="+",
        help_text=_("The investigator who gave the attestation."))
    lab_pending_attested_at = models.DateTimeField(_("attested at"), null=True, blank=True,
        help_text=_("UTC."))

    # --- exclusions (booleans, None = not answered)
    ich_on_imaging = models.BooleanField(_("intracranial haemorrhage on imaging"), null=True, blank=True,
        help_text=_("Yes/no. EX1."))
    fpct_major_hemorrhage = models.BooleanField(_("major haemorrhage on flat-panel CT"), null=True, blank=True,
        help_text=_("Yes/no. EX1."))
    gi_gu_bleeding_30d = models.BooleanField(_("GI/GU bleeding within 30 days"), null=True, blank=True,
        help_text=_("Yes/no. EX2."))
    major_surgery_14d = models.BooleanField(_("major surgery within 14 days"), null=True, blank=True,
        help_text=_("Yes/no. EX2."))
    doac_48h = models.BooleanField(_("DOAC within 48 hours"), null=True, blank=True,
        help_text=_("Yes/no. EX3."))
    hit_history = models.BooleanField(_("history of heparin-induced thrombocytopenia"), null=True, blank=True,
        help_text=_("Yes/no. EX3."))
    pregnant_or_lactating = models.BooleanField(_("pregnant or lactating"), null=True, blank=True,
        help_text=_("Yes/no, female subjects. EX4."))
    contrast_contraindication = models.BooleanField(_("contraindication to contrast agents"), null=True, blank=True,
        help_text=_("Yes/no. EX5."))
    nickel_titanium_allergy = models.BooleanField(_("nickel-titanium allergy"), null=True, blank=True,
        help_text=_("Yes/no. EX5."))
    life_expectancy_lt_6m = models.BooleanField(_("life expectancy under 6 months"), null=True, blank=True,
        help_text=_("Yes/no. EX6."))
    confounding_neuro_psych = models.BooleanField(_("confounding neurological/psychiatric condition"), null=True, blank=True,
        help_text=_("Yes/no. EX7."))
    tortuosity_prevents_delivery = models.BooleanField(_("tortuosity preventing device delivery"), null=True, blank=True,
        help_text=_("Yes/no. EX9."))
    unlikely_90d_followup = models.BooleanField(_("unlikely to complete 90-day follow-up"), null=True, blank=True,
        help_text=_("Yes/no. EX10."))

    # --- consent
    consent = models.CharField(_("consent"), max_length=24, choices=Consent.choices, blank=True,
        help_text=_("patient, legal_representative, none (not obtained). IN9."))
    consent_at = models.DateTimeField(_("consent time"), null=True, blank=True,
        help_text=_("Instant (UTC) consent was given."))

    # --- derived verdict (stored by the services from rules.evaluate)
    verdict_status = models.CharField(_("verdict"), max_length=12, choices=VerdictStatus.choices, default=VerdictStatus.INCOMPLETE,
        help_text=_("Derived: eligible, ineligible, incomplete (eligibility.rules)."))
    verdict_failed = models.JSONField(_("failed criteria"), default=list, blank=True,
        help_text=_("Derived: failed codes IN1…EX10 in spec order."))
    verdict_missing = models.JSONField(_("missing fields"), default=list, blank=True,
        help_text=_("Derived: fields still needed."))
    verdict_warnings = models.JSONField(_("warnings"), default=list, blank=True,
        help_text=_("Derived: pending labs, unusual values."))

    # --- workflow
    confirmed_by = models.ForeignKey(verbose_name=_("confirmed by"), to=settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+",
        help_text=_("Investigator who confirmed eligibility."))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True,
        help_text=_("UTC."))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ScreeningOutcome.choices, default=ScreeningOutcome.OPEN,
        help_text=_("open, randomized, or the closing reason."))
    closed_reason_codes = models.JSONField(_("closing criteria"), default=list, blank=True,
        help_text=_("Failed codes when closed as ineligible."))
    closed_reason_text = models.TextField(_("closing reason"), blank=True,
        help_text=_("Free text (required for 'other')."))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True,
        help_text=_("UTC."))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["site", "created_at"]), models.Index(fields=["outcome"])]

    def __str__(self) -> str:
        return self.number


@track()
class ScreeningPass(models.Model):
    """One thrombectomy pass before randomization (IN8)."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="passes",
                                  verbose_name=_("screening"))
    position = models.PositiveSmallIntegerField(_("pass number"), help_text=_("1, 2, 3… in order."))
    technique = models.CharField(_("technique"), max_length=20, choices=Technique.choices,
                                 help_text=_("contact_aspiration, stent_retriever, combined. IN8."))
    etici = models.CharField(_("eTICI after the pass"), max_length=4, choices=ETICI.choices,
                             help_text=_("0, 1, 2a, 2b50, 2b67, 2c, 3. IN8: 0–1 after the last pass."))
    # Removed passes are deactivated, never deleted.
    active = models.BooleanField(_("active"), default=True, help_text=_("False once the pass was removed."))

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["screening", "position"], condition=models.Q(active=True),
                                    name="screening_pass_position_unique"),
        ]
