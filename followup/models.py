"""Follow-up CRFs V1–V5 and event forms (SPEC §6, SCALES.md), reminders and notifications.

Every CRF stores raw values; totals and classifications (NIHSS total, sICH) are derived by
code (followup.nihss, followup.sich) and stored by the services. Each CRF model is tracked
(append-only history, no hard delete) and carries a `version` for optimistic locking.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from audit.tracking import track
from core import protocol as P
from core.choices import ETICI, Technique
from followup import nihss

_V5 = P.VISIT_RULES["V5"]
_V5_DAYS = f"{_V5.first}–{_V5.last}"  # "83–97"
_V5_WINDOW = f"{_V5_DAYS} ({_V5.target} ± {_V5.before})"


class CRFRecord(models.Model):
    version = models.PositiveIntegerField(default=1, editable=False,
                                          help_text=_("Optimistic lock: incremented by every save."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("created by"),
                                   related_name="+", editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("updated by"),
                                   related_name="+", null=True, blank=True, editable=False)

    class Meta:
        abstract = True


# A translated %-format string, formatted when shown (in the reader's language).
_lazy_percent = lazy(lambda template, **values: str(template) % values, str)


def nihss_fields(prefix: str, label: str) -> dict[str, models.Field]:
    """The 15 NIHSS item fields (plus UN flags, explanation and derived total)."""
    fields: dict[str, models.Field] = {}
    for item in nihss.ITEMS:
        fields[nihss.field_name(prefix, item)] = models.PositiveSmallIntegerField(
            format_lazy("{} {} · {}", label, item.code, item.label), null=True, blank=True,
            validators=[MaxValueValidator(item.max)],
            help_text=format_lazy("0–{}{}", item.max, _(" or UN") if item.untestable else ""),
        )
        if item.untestable:
            fields[nihss.un_field_name(prefix, item)] = models.BooleanField(
                format_lazy("{} {}", label, _lazy_percent(_("%(code)s untestable (UN)"), code=item.code)),
                default=False,
                help_text=_("UN counts 0 in the total and needs a written explanation."),
            )
    fields[f"{prefix}_un_explanation"] = models.TextField(
        format_lazy("{}: {}", label, _("explanation of UN items")), blank=True)
    fields[f"{prefix}_total"] = models.PositiveSmallIntegerField(
        format_lazy("{} {}", label, _("total")), null=True, blank=True, editable=False,
        help_text=_("Derived: sum of the 15 items (UN = 0), 0–42."))
    return fields


class StentType(models.TextChoices):
    BALLOON_EXPANDABLE = "balloon_expandable", _("Balloon-expandable")
    SELF_EXPANDING = "self_expanding", _("Self-expanding")


class Route(models.TextChoices):
    INTRA_ARTERIAL = "ia", _("Intra-arterial")
    INTRAVENOUS = "iv", _("Intravenous")
    ORAL = "oral", _("Oral")


class Antithrombotic(models.TextChoices):
    NONE = "none", _("None")
    TIROFIBAN = "tirofiban", _("Tirofiban")
    EPTIFIBATIDE = "eptifibatide", _("Eptifibatide")
    ASPIRIN = "aspirin", _("Aspirin")
    CLOPIDOGREL = "clopidogrel", _("Clopidogrel")
    HEPARIN = "heparin", _("Unfractionated heparin")
    OTHER = "other", _("Other")


def yes_no(label, help_text=""):
    return models.BooleanField(label, null=True, blank=True, help_text=help_text)


@track()
class Procedure(CRFRecord):
    """V1 procedure CRF. Reveals the arm (a stent was placed or not): never shown to blinded
    users (core.crf reveals_arm=True)."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="procedure")
    # --- times (site zone on screen, UTC in the database)
    arterial_puncture_at = models.DateTimeField(_("arterial puncture"), null=True, blank=True)
    first_reperfusion_at = models.DateTimeField(_("first reperfusion"), null=True, blank=True,
                                                help_text=_("First eTICI ≥ 2b50; empty if none."))
    procedure_end_at = models.DateTimeField(_("end of procedure"), null=True, blank=True)
    # --- rescue: balloon angioplasty
    angioplasty = yes_no(_("balloon angioplasty"))
    balloon_device = models.CharField(_("balloon (device)"), max_length=100, blank=True)
    balloon_diameter_mm = models.DecimalField(_("balloon diameter (mm)"), max_digits=3, decimal_places=1,
                                              null=True, blank=True,
                                              validators=[MinValueValidator(0.5), MaxValueValidator(8)],
                                              help_text="mm, 0.5–8.0")
    balloon_pressure_atm = models.DecimalField(_("inflation pressure (atm)"), max_digits=3, decimal_places=1,
                                               null=True, blank=True,
                                               validators=[MinValueValidator(1), MaxValueValidator(30)],
                                               help_text="atm, 1–30")
    # --- rescue: stent
    stent = yes_no(_("stent placed"))
    stent_type = models.CharField(_("stent type"), max_length=20, choices=StentType.choices, blank=True)
    stent_device = models.CharField(_("stent (device)"), max_length=100, blank=True)
    stent_diameter_mm = models.DecimalField(_("stent diameter (mm)"), max_digits=3, decimal_places=1,
                                            null=True, blank=True,
                                            validators=[MinValueValidator(1), MaxValueValidator(8)],
                                            help_text="mm, 1.0–8.0")
    stent_length_mm = models.PositiveSmallIntegerField(_("stent length (mm)"), null=True, blank=True,
                                                       validators=[MinValueValidator(4), MaxValueValidator(60)],
                                                       help_text="mm, 4–60")
    # --- antithrombotics during the procedure
    antithrombotic = models.CharField(_("antithrombotic drug"), max_length=20,
                                      choices=Antithrombotic.choices, blank=True)
    antithrombotic_route = models.CharField(_("route"), max_length=4, choices=Route.choices, blank=True)
    antithrombotic_dose = models.CharField(_("dose (with unit)"), max_length=60, blank=True,
                                           help_text=_("e.g. 10 µg/kg bolus, then 0.15 µg/kg/min"))
    second_antithrombotic = models.CharField(_("second antithrombotic drug"), max_length=20,
                                             choices=Antithrombotic.choices, blank=True)
    # --- result
    final_etici = models.CharField(_("final eTICI"), max_length=4, choices=ETICI.choices, blank=True)
    # --- flat-panel CT at the end
    fpct_done = yes_no(_("flat-panel CT at the end"))
    fpct_new_hyperdensity = yes_no(_("FPCT: new hyperdensity"))
    fpct_hemorrhage = yes_no(_("FPCT: haemorrhage"))
    # --- complications
    vessel_perforation = yes_no(_("vessel perforation"))
    dissection = yes_no(_("dissection"))
    embolization_new_territory = yes_no(_("embolization to a new territory"))
    vasospasm = yes_no(_("vasospasm"))
    instent_thrombosis = yes_no(_("acute in-stent thrombosis or re-occlusion"))
    access_site_complication = yes_no(_("access-site complication"))
    complication_notes = models.TextField(_("complication details"), blank=True)

    class Meta:
        verbose_name = _("V1 procedure")


@track()
class ProcedurePass(models.Model):
    """A thrombectomy pass after randomization (V1)."""

    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="passes")
    position = models.PositiveSmallIntegerField(_("pass number after randomization"))
    technique = models.CharField(_("technique"), max_length=20, choices=Technique.choices)
    device = models.CharField(_("device"), max_length=100, blank=True)
    at = models.DateTimeField(_("time of pass"), null=True, blank=True)
    etici = models.CharField(_("eTICI after the pass"), max_length=4, choices=ETICI.choices)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["procedure", "position"], name="procedure_pass_unique")]


@track()
class Visit24h(CRFRecord):
    """V2: NIHSS at 24 hours."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="visit24h")
    assessed_at = models.DateTimeField(_("NIHSS assessed at"), null=True, blank=True,
                                       help_text=_("Window T0 + 24 h ± 6 h"))
    locals().update(nihss_fields("nihss", "NIHSS"))

    class Meta:
        verbose_name = _("V2 24 hours")


class ImagingModality(models.TextChoices):
    CT = "ct", "CT"
    MRI = "mri", "MRI"
    BOTH = "ct_mri", "CT + MRI"


class MajorIntervention(models.TextChoices):
    NONE = "", _("None")
    INTUBATION = "intubation", _("Intubation")
    HEMICRANIECTOMY = "hemicraniectomy", _("Hemicraniectomy")
    EVD = "evd", _("External ventricular drain")
    OTHER = "other", _("Other major intervention")


HEIDELBERG_FIELDS = {
    "1a": ("hb_1a", _("1a scattered small petechiae, no mass effect (HI1)")),
    "1b": ("hb_1b", _("1b confluent petechiae, no mass effect (HI2)")),
    "1c": ("hb_1c", _("1c haematoma within infarct < 30 %, no substantive mass effect (PH1)")),
    # xgettext:no-python-format
    "2": ("hb_2", _("2 haematoma ≥ 30 % of infarct, obvious mass effect (PH2)")),
    "3a": ("hb_3a", _("3a parenchymal haematoma remote from infarct")),
    "3b": ("hb_3b", _("3b intraventricular haemorrhage")),
    "3c": ("hb_3c", _("3c subarachnoid haemorrhage")),
    "3d": ("hb_3d", _("3d subdural haemorrhage")),
}
ECASS_FIELDS = {
    "HI1": ("ecass_hi1", "HI1"), "HI2": ("ecass_hi2", "HI2"), "PH1": ("ecass_ph1", "PH1"),
    "PH2": ("ecass_ph2", "PH2"), "rPH1": ("ecass_rph1", _("remote PH1")),
    "rPH2": ("ecass_rph2", _("remote PH2")),
}


@track()
class Visit48h(CRFRecord):
    """V3: follow-up imaging, haemorrhage classes, NIHSS at worsening, and derived sICH."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="visit48h")
    imaging_modality = models.CharField(_("imaging modality"), max_length=8,
                                        choices=ImagingModality.choices, blank=True)
    imaging_at = models.DateTimeField(_("imaging date/time"), null=True, blank=True)
    imaging_at_worsening = models.BooleanField(_("imaging done at a neurological worsening"), default=False)
    new_ich = yes_no(_("new intracranial haemorrhage"))
    for _code, (_name, _label) in HEIDELBERG_FIELDS.items():
        locals()[_name] = models.BooleanField(_label, default=False,
                                              help_text=_("Heidelberg class; several may be present."))
    for _code, (_name, _label) in ECASS_FIELDS.items():
        locals()[_name] = models.BooleanField(_label, default=False,
                                              help_text=_("ECASS radiological type."))
    del _code, _name, _label
    worsening = yes_no(_("neurological worsening"))
    worsening_at = models.DateTimeField(_("worsening at"), null=True, blank=True)
    nihss_lowest_24h = models.PositiveSmallIntegerField(
        _("lowest NIHSS up to 24 h"), null=True, blank=True,
        validators=[MaxValueValidator(42)], help_text="0–42")
    nihss_lowest_7d = models.PositiveSmallIntegerField(
        _("lowest NIHSS so far (first 7 days)"), null=True, blank=True,
        validators=[MaxValueValidator(42)], help_text="0–42")
    locals().update(nihss_fields("before", _("NIHSS before worsening")))
    locals().update(nihss_fields("worse", _("NIHSS at worsening")))
    nihss_item_changes = models.JSONField(_("per-item change (at − before)"), default=dict,
                                          blank=True, editable=False)
    major_intervention = models.CharField(_("major intervention"), max_length=16, blank=True,
                                          choices=MajorIntervention.choices)
    major_intervention_other = models.CharField(_("other intervention (which)"), max_length=200, blank=True)
    alternative_explanation = yes_no(_("another explanation for the worsening exists"))
    alternative_explanation_text = models.TextField(_("alternative explanation"), blank=True)
    ich_predominant_cause = yes_no(_("investigator: ICH is the predominant cause of the worsening"))
    died = models.BooleanField(_("died within 48 h"), default=False)
    # --- derived (followup.sich), stored with their reasoning
    sich_heidelberg = models.BooleanField(_("sICH (Heidelberg, primary)"), null=True, editable=False)
    sich_ecass3 = models.BooleanField(_("sICH (ECASS III)"), null=True, editable=False)
    sich_sits_most = models.BooleanField(_("sICH (SITS-MOST)"), null=True, editable=False)
    sich_reasoning = models.JSONField(_("sICH reasoning"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("V3 48 hours")


class Destination(models.TextChoices):
    HOME = "home", _("Home")
    REHABILITATION = "rehabilitation", _("Rehabilitation unit")
    NURSING = "nursing", _("Nursing facility")
    OTHER_HOSPITAL = "other_hospital", _("Other hospital")
    STILL_INPATIENT = "inpatient", _("Still in hospital on day 7")
    DIED = "died", _("Died")


MRS_CHOICES = [
    (0, _("0 — no symptoms at all")),
    (1, _("1 — symptoms, but no significant disability: can carry out all usual duties and activities")),
    (2, _("2 — slight disability: cannot do all previous activities, but looks after own affairs without help")),
    (3, _("3 — moderate disability: needs some help, but walks without assistance")),
    (4, _("4 — moderately severe disability: cannot walk or attend to bodily needs without assistance")),
    (5, _("5 — severe disability: bedridden, incontinent, needs constant nursing care and attention")),
    (6, _("6 — dead")),
]


@track()
class Visit7d(CRFRecord):
    """V4: day 7 or discharge, whichever first."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="visit7d")
    assessed_on = models.DateField(_("assessment date"), null=True, blank=True,
                                   help_text=_("Day 7 ± 1 or the day of discharge"))
    discharged = yes_no(_("discharged before day 7"))
    discharge_on = models.DateField(_("discharge date"), null=True, blank=True)
    locals().update(nihss_fields("nihss", "NIHSS"))
    mrs_discharge = models.PositiveSmallIntegerField(_("mRS at discharge / day 7"), null=True, blank=True,
                                                     choices=MRS_CHOICES, help_text="0–6")
    destination = models.CharField(_("destination"), max_length=16, choices=Destination.choices, blank=True)

    class Meta:
        verbose_name = _("V4 day 7 / discharge")


class AssessmentMode(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    PHONE = "phone", _("Telephone")
    VIDEO = "video", _("Video")


class Respondent(models.TextChoices):
    PATIENT = "patient", _("Patient")
    PROXY = "proxy", _("Proxy")


EQ5D_LEVELS = [(i, str(i)) for i in range(1, 6)]


def eq5d(label):
    return models.PositiveSmallIntegerField(label, null=True, blank=True, choices=EQ5D_LEVELS,
                                            help_text=_("level 1–5"))


class Day90Source(models.TextChoices):
    ASSESSMENT = "assessment", _("Assessment by the blinded assessor")
    DEATH = "death", _("Death recorded (mRS 6)")


@track()
class Day90(CRFRecord):
    """V5: the primary endpoint, entered by the blinded outcome assessor only."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="day90")
    source = models.CharField(_("source"), max_length=12, choices=Day90Source.choices, default=Day90Source.ASSESSMENT,
                              editable=False)
    assessed_on = models.DateField(_("assessment date"), null=True, blank=True,
                                   help_text=format_lazy(_("Day {window}"), window=_V5_WINDOW))
    mode = models.CharField(_("mode"), max_length=10, choices=AssessmentMode.choices, blank=True)
    respondent = models.CharField(_("respondent"), max_length=8, choices=Respondent.choices, blank=True)
    assessor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("assessor"), null=True, blank=True, editable=False)
    blinded_attested = models.BooleanField(
        _("I remained blinded to the treatment arm"), default=False,
        help_text=_("If not, give the blinding-breach report reference instead."))
    breach_reference = models.CharField(_("blinding-breach report reference"), max_length=100, blank=True)
    mrs = models.PositiveSmallIntegerField(_("mRS at day 90"), null=True, blank=True, choices=MRS_CHOICES,
                                           help_text="0–6")
    death_on = models.DateField(_("date of death"), null=True, blank=True, help_text=_("if mRS 6"))
    eq5d_mobility = eq5d(_("EQ-5D-5L mobility"))
    eq5d_self_care = eq5d(_("EQ-5D-5L self-care"))
    eq5d_usual_activities = eq5d(_("EQ-5D-5L usual activities"))
    eq5d_pain = eq5d(_("EQ-5D-5L pain / discomfort"))
    eq5d_anxiety = eq5d(_("EQ-5D-5L anxiety / depression"))
    eq5d_vas = models.PositiveSmallIntegerField(_("EQ VAS"), null=True, blank=True,
                                                validators=[MaxValueValidator(100)], help_text="0–100")
    outside_window = models.BooleanField(format_lazy(_("assessed outside day {window}"), window=_V5_DAYS),
                                         default=False, editable=False)
    study_day = models.SmallIntegerField(_("study day of the assessment"), null=True, editable=False)

    class Meta:
        verbose_name = _("V5 day 90")


# --- Events ---------------------------------------------------------------------------------


class Severity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")


class AEOutcome(models.TextChoices):
    RECOVERED = "recovered", _("Recovered / resolved")
    RECOVERING = "recovering", _("Recovering / resolving")
    NOT_RECOVERED = "not_recovered", _("Not recovered")
    SEQUELAE = "sequelae", _("Recovered with sequelae")
    FATAL = "fatal", _("Fatal")
    UNKNOWN = "unknown", _("Unknown")


class Relatedness(models.TextChoices):
    NOT_RELATED = "not", _("Not related")
    UNLIKELY = "unlikely", _("Unlikely")
    POSSIBLE = "possible", _("Possible")
    PROBABLE = "probable", _("Probable")
    DEFINITE = "definite", _("Definite")


@track()
class AdverseEvent(CRFRecord):
    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="adverse_events")
    term = models.CharField(_("event term"), max_length=200)
    onset_on = models.DateField(_("onset date"))
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, blank=True)
    serious = models.BooleanField(_("serious (SAE)"), default=False)
    sae_death = models.BooleanField(_("SAE criterion: resulted in death"), default=False)
    sae_life_threatening = models.BooleanField(_("SAE criterion: life-threatening"), default=False)
    sae_hospitalization = models.BooleanField(_("SAE criterion: hospitalisation or prolongation"), default=False)
    sae_disability = models.BooleanField(_("SAE criterion: persistent disability"), default=False)
    sae_congenital = models.BooleanField(_("SAE criterion: congenital anomaly"), default=False)
    sae_important_medical = models.BooleanField(_("SAE criterion: important medical event"), default=False)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AEOutcome.choices, blank=True)
    resolved_on = models.DateField(_("resolution date"), null=True, blank=True)
    related_procedure = models.CharField(_("related to the procedure"), max_length=10,
                                         choices=Relatedness.choices, blank=True)
    related_device = models.CharField(_("related to the device"), max_length=10,
                                      choices=Relatedness.choices, blank=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["onset_on", "id"]
        verbose_name = _("adverse event")


class DeathCause(models.TextChoices):
    NEUROLOGICAL = "neurological", _("Neurological (index stroke)")
    ICH = "ich", _("Intracranial haemorrhage")
    CARDIOVASCULAR = "cardiovascular", _("Cardiovascular")
    INFECTION = "infection", _("Infection")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


@track()
class Death(CRFRecord):
    """A death sets the day-90 mRS to 6, the subject status to dead, and stops reminders."""

    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="death")
    died_on = models.DateField(_("date of death"), help_text=_("Not before the day of randomization"))
    cause = models.CharField(_("cause category"), max_length=16, choices=DeathCause.choices)
    cause_text = models.TextField(_("cause of death (details)"), blank=True)
    autopsy = yes_no(_("autopsy performed"))

    class Meta:
        verbose_name = _("death")


@track()
class ProtocolDeviation(CRFRecord):
    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="deviations")
    occurred_on = models.DateField(_("date"))
    category = models.CharField(_("category"), max_length=20, choices=[
        ("eligibility", _("Eligibility")), ("treatment", _("Treatment / procedure")),
        ("visit_window", _("Visit outside window")), ("blinding", _("Blinding")),
        ("consent", _("Consent")), ("lab", _("Lab value after randomization")), ("other", _("Other")),
    ])
    major = models.BooleanField(_("major deviation"), default=False)
    description = models.TextField(_("description"))
    corrective_action = models.TextField(_("corrective action"), blank=True)

    class Meta:
        ordering = ["occurred_on", "id"]
        verbose_name = _("protocol deviation")


class ExitKind(models.TextChoices):
    WITHDRAWN = "withdrawn", _("Withdrawal of consent")
    LOST = "lost", _("Lost to follow-up")
    COMPLETED = "completed", _("End of study (completed)")


@track()
class StudyExit(CRFRecord):
    subject = models.OneToOneField("core.Subject", on_delete=models.PROTECT, related_name="study_exit")
    kind = models.CharField(_("reason"), max_length=10, choices=ExitKind.choices)
    exit_on = models.DateField(_("date"))
    withdrawn_by = models.CharField(_("withdrawn by"), max_length=20, blank=True, choices=[
        ("patient", _("Patient")), ("representative", _("Legal representative")),
        ("investigator", _("Investigator")),
    ])
    data_use_permitted = yes_no(_("data collected so far may be used"))
    details = models.TextField(_("details"), blank=True)

    class Meta:
        verbose_name = _("withdrawal / end of study")


# --- Reminders (their in-app notices: core.Notification) ----------------------------------


class ReminderState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled (visit entered, subject off study)")
    SUPERSEDED = "superseded", _("Superseded by a later reminder of the same visit")


class Reminder(models.Model):
    """One reminder point of SPEC §7 for one subject: the claim row of exactly-once delivery.

    UNIQUE (subject, key) makes the row the reminder's identity; a worker sends it only after
    moving it from `scheduled` to `sent` with a conditional UPDATE in the same transaction
    that writes the in-app notifications.
    """

    subject = models.ForeignKey("core.Subject", on_delete=models.PROTECT, related_name="reminders")
    key = models.CharField(max_length=20)
    visit = models.CharField(max_length=4)
    due_at = models.DateTimeField()
    escalate = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=ReminderState.choices, default=ReminderState.SCHEDULED)
    sent_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "key"], name="reminder_unique_point")]
        indexes = [models.Index(fields=["due_at"], name="reminder_due_scheduled",
                                condition=models.Q(state="scheduled"))]
