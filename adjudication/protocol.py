"""What central adjudication reads, in the protocol's words — no ORM.

Each kind of case (a task in one worklist) names the material that makes it complete, the
role that reads it, and the values a read records. The site's value of the same endpoint is
what the adjudicated value sits beside (adjudication.results).

Agreement rule: two independent reads agree when every recorded value is identical; any
difference sends the case to a third read or a consensus meeting (SOP of the core lab and the
clinical events committee: no tolerance is applied silently).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from adjudication.mrs_interview import QUESTIONS, score

ETICI_CODES = ("0", "1", "2a", "2b50", "2b67", "2c", "3")
ETICI_ORDER = {code: i for i, code in enumerate(ETICI_CODES)}
HEIDELBERG_CODES = ("none", "1a", "1b", "1c", "2", "3a", "3b", "3c", "3d")
SICH_KEYS = ("sich_heidelberg", "sich_ecass3", "sich_sits_most")
READS_PER_CASE = 2


class Material:
    BASELINE_IMAGING = "baseline_imaging"
    ANGIOGRAPHY = "angiography"
    FOLLOWUP_IMAGING = "followup_imaging"
    DAY90_RECORDING = "day90_recording"


MATERIAL_LABELS = {
    Material.BASELINE_IMAGING: _("Baseline imaging (CT / CTA / MRI before the procedure)"),
    Material.ANGIOGRAPHY: _("Procedure angiography runs"),
    Material.FOLLOWUP_IMAGING: _("24–48 h follow-up imaging"),
    Material.DAY90_RECORDING: _("Day-90 interview recording"),
}
MATERIAL_VISIT = {Material.BASELINE_IMAGING: "V0", Material.ANGIOGRAPHY: "V1",
                  Material.FOLLOWUP_IMAGING: "V3", Material.DAY90_RECORDING: "V5"}
# The angiography runs of the procedure show whether a stent was placed: they reveal the arm.
REVEALS_ARM = frozenset({Material.ANGIOGRAPHY})
# File kinds accepted per material (by content, adjudication.sniff).
ACCEPTED_KINDS = {
    Material.BASELINE_IMAGING: {"dicom", "image"},
    Material.ANGIOGRAPHY: {"dicom", "image", "video"},
    Material.FOLLOWUP_IMAGING: {"dicom", "image"},
    Material.DAY90_RECORDING: {"audio", "video"},
}


class CaseKind:
    ANGIO = "angio_etici"
    ASPECTS = "aspects"
    FOLLOWUP = "followup_imaging"
    SICH = "sich"
    MRS = "mrs"


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    action: str  # core.roles.Action the reader needs
    material: str | None  # the material that completes the case (None: the committee's ICH)
    fields: tuple[str, ...]


KINDS = {
    CaseKind.ANGIO: Kind(CaseKind.ANGIO, _("eTICI after the last pass before randomization (IN8) and final eTICI"),
                         "read_imaging", Material.ANGIOGRAPHY, ("etici_last_pre", "etici_final")),
    CaseKind.ASPECTS: Kind(CaseKind.ASPECTS, _("ASPECTS / pc-ASPECTS on baseline imaging"),
                           "read_imaging", Material.BASELINE_IMAGING, ("aspects", "pc_aspects")),
    CaseKind.FOLLOWUP: Kind(CaseKind.FOLLOWUP, _("24–48 h imaging: haemorrhage, Heidelberg class"),
                            "read_imaging", Material.FOLLOWUP_IMAGING, ("ich", "heidelberg")),
    CaseKind.SICH: Kind(CaseKind.SICH, _("Intracranial haemorrhage: sICH by each definition"),
                        "adjudicate_events", None, SICH_KEYS),
    CaseKind.MRS: Kind(CaseKind.MRS, _("mRS at day 90 from the interview recording"),
                       "rate_mrs", Material.DAY90_RECORDING, ("mrs",)),
}
KIND_CHOICES = [(k.code, k.label) for k in KINDS.values()]

# What each adjudicated value is called on a page (the keys are variable names, never shown).
FIELD_LABELS = {
    "etici_last_pre": _("eTICI after the last pass before randomization"),
    "etici_final": _("Final eTICI"),
    "aspects": _("ASPECTS"),
    "pc_aspects": _("pc-ASPECTS"),
    "ich": _("Haemorrhage on 24–48 h imaging"),
    "heidelberg": _("Heidelberg class"),
    "sich_heidelberg": _("sICH (Heidelberg)"),
    "sich_ecass3": _("sICH (ECASS III)"),
    "sich_sits_most": _("sICH (SITS-MOST)"),
    "mrs": _("mRS at day 90"),
    "auto_mrs": _("Interview score"),
}
# Coded values shown as words: the Heidelberg class "none" (no haemorrhage).
VALUE_LABELS = {"none": _("none (no haemorrhage)")}


def kinds_for_actions(actions: set[str]) -> list[str]:
    return [k.code for k in KINDS.values() if k.action in actions]


def materials_for_kind(kind: str) -> set[str]:
    """Material a reader of `kind` may open. The committee sees the follow-up imaging; the mRS
    rater only the recording — never the angiography (it reveals the arm)."""
    if kind == CaseKind.SICH:
        return {Material.FOLLOWUP_IMAGING}
    return {KINDS[kind].material}


class InvalidRead(ValueError):
    """A read's values break a rule; the message names the field and the rule."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _int_in(data, name, low, high, *, required=True):
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            raise InvalidRead(name, str(_("required, a whole number %(low)s–%(high)s.") % {"low": low, "high": high}))
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidRead(name, str(_("%(value)r is not a whole number %(low)s–%(high)s.")
                                    % {"value": raw, "low": low, "high": high})) from None
    if not low <= value <= high:
        raise InvalidRead(name, str(_("%(value)s is outside %(low)s–%(high)s.")
                                    % {"value": value, "low": low, "high": high}))
    return value


def _choice(data, name, codes):
    raw = str(data.get(name) or "").strip()
    if raw not in codes:
        raise InvalidRead(name, str(_("choose one of %(codes)s.") % {"codes": ", ".join(codes)}))
    return raw


def _yes_no(data, name):
    raw = data.get(name)
    if raw in (True, "true", "yes", "1", 1, "on"):
        return True
    if raw in (False, "false", "no", "0", 0):
        return False
    raise InvalidRead(name, str(_("answer yes or no.")))


def clean_values(kind: str, data) -> dict:
    """The values of one read, validated; raises InvalidRead naming the field."""
    if kind == CaseKind.ANGIO:
        return {"etici_last_pre": _choice(data, "etici_last_pre", ETICI_CODES),
                "etici_final": _choice(data, "etici_final", ETICI_CODES)}
    if kind == CaseKind.ASPECTS:
        aspects = _int_in(data, "aspects", 0, 10, required=False)
        pc = _int_in(data, "pc_aspects", 0, 10, required=False)
        if (aspects is None) == (pc is None):
            raise InvalidRead("aspects", str(_("give ASPECTS (anterior) or pc-ASPECTS (posterior), exactly one.")))
        return {"aspects": aspects, "pc_aspects": pc}
    if kind == CaseKind.FOLLOWUP:
        ich = _yes_no(data, "ich")
        heidelberg = _choice(data, "heidelberg", HEIDELBERG_CODES)
        if ich and heidelberg == "none":
            raise InvalidRead("heidelberg", str(_("a haemorrhage was seen: give its Heidelberg class.")))
        if not ich and heidelberg != "none":
            raise InvalidRead("heidelberg", str(_("no haemorrhage: the class must be “none”.")))
        return {"ich": ich, "heidelberg": heidelberg}
    if kind == CaseKind.SICH:
        return {k: _yes_no(data, k) for k in SICH_KEYS}
    if kind == CaseKind.MRS:
        answers = {q.key: _yes_no(data, q.key) for q in QUESTIONS}
        auto = score(answers)
        mrs = _int_in(data, "mrs", 0, 6, required=False)
        if mrs is None:
            mrs = auto
        if mrs != auto and not str(data.get("note") or "").strip():
            raise InvalidRead("note", str(_("the mRS (%(mrs)s) differs from the interview's score (%(auto)s): say why.")
                                          % {"mrs": mrs, "auto": auto}))
        return {"mrs": mrs, "auto_mrs": auto, "interview": answers}
    raise InvalidRead("kind", f"unknown case kind {kind!r}")


def compared(kind: str, values: dict) -> tuple:
    """The part of a read that two readers must agree on."""
    return tuple(values.get(f) for f in KINDS[kind].fields)


def agree(kind: str, a: dict, b: dict) -> bool:
    return compared(kind, a) == compared(kind, b)


def eligibility_contradiction(values: dict) -> str | None:
    """IN8: eTICI 0–1 after the last pass before randomization. A core-lab grade ≥ 2a there
    contradicts the site's eligibility: a protocol deviation to query back to the site."""
    grade = values.get("etici_last_pre")
    if grade in ETICI_ORDER and ETICI_ORDER[grade] >= ETICI_ORDER["2a"]:
        return grade
    return None
