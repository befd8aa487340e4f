"""Edit checks of the screening CRF (SPEC §8), pure and shared by the form and the services.

- `hard_errors(data, now)`: impossible values, refused with a message naming the field and the
  rule (age 250, ASPECTS 11, puncture before last known well, a time in the future,
  creatinine without a unit…). The form shows them beside the field and keeps everything else
  typed; the services refuse to store them whatever the caller.
- `unusual_values(data)`: possible but unusual values, saved with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from core import bounds
from core import protocol as P
from datamanagement.messages import Message
from eligibility import derive

# Field names as users know them (lazy: translated when shown).
LABELS = {
    "age_years": gettext_lazy("Age"), "prestroke_mrs": gettext_lazy("Pre-stroke mRS"), "nihss_baseline": gettext_lazy("NIHSS total"),
    "aspects": gettext_lazy("ASPECTS"), "pc_aspects": gettext_lazy("pc-ASPECTS"), "platelets": gettext_lazy("Platelets"), "aptt": gettext_lazy("aPTT"),
    "inr": gettext_lazy("INR"), "gfr": gettext_lazy("GFR"), "creatinine": gettext_lazy("Creatinine"), "creatinine_unit": gettext_lazy("Creatinine unit"),
    "last_known_well": gettext_lazy("Last known well"), "arterial_puncture_at": gettext_lazy("Arterial puncture"),
    "consent_at": gettext_lazy("Consent time"), "occlusion_site": gettext_lazy("Occlusion site"), "consent": gettext_lazy("Consent"),
    "sex": gettext_lazy("Sex"), "passes": gettext_lazy("Passes"), "nihss_un_reason": gettext_lazy("UN explanation"),
    "nihss_items": gettext_lazy("NIHSS items"), "evt_intended": gettext_lazy("EVT intended"),
    "ich_on_imaging": gettext_lazy("ICH on imaging"), "fpct_major_hemorrhage": gettext_lazy("major haemorrhage on flat-panel CT"),
    "gi_gu_bleeding_30d": gettext_lazy("GI/GU bleeding within 30 days"), "major_surgery_14d": gettext_lazy("major surgery within 14 days"),
    "doac_48h": gettext_lazy("DOAC within 48 h"), "hit_history": gettext_lazy("history of HIT"),
    "pregnant_or_lactating": gettext_lazy("pregnant or lactating"), "contrast_contraindication": gettext_lazy("contrast contraindication"),
    "nickel_titanium_allergy": gettext_lazy("nickel-titanium allergy"), "life_expectancy_lt_6m": gettext_lazy("life expectancy < 6 months"),
    "confounding_neuro_psych": gettext_lazy("confounding neurological/psychiatric disease"),
    "tortuosity_prevents_delivery": gettext_lazy("tortuosity preventing device delivery"),
    "unlikely_90d_followup": gettext_lazy("unlikely 90-day follow-up"), "lab_pending_attested": gettext_lazy("Attestation"),
}


def label(name: str) -> str:
    if name.startswith("nihss_") and name[6:] in P.NIHSS_ITEMS:
        return f"NIHSS {name[6:]}"
    if name.startswith("passes["):
        return name.replace("passes[", "pass ").replace("].", " ")
    return str(LABELS.get(name, name.replace("_", " ").capitalize()))


def range_text(name: str, unit: str | None = None) -> str:
    r = P.CREATININE_RANGES.get(unit or "") if name == "creatinine" else P.RANGES.get(name)
    if r is None:
        return ""
    # Units are the same in every language except words ("years"), which the catalogue has.
    return f"{_fmt(r.low)}–{_fmt(r.high)}{(' ' + _(r.unit)) if r.unit else ''}"


def _fmt(value) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _check_range(errors: dict[str, str], name: str, raw: Any, rng: P.Range) -> None:
    if raw is None or raw == "" or derive.is_pending(raw):
        return
    value = derive.to_decimal(raw)
    if value is None:
        errors[name] = _("%(f)s: %(v)s is not a number.") % {"f": label(name), "v": raw}
        return
    if not value.is_finite() or not rng.low <= value <= rng.high:
        errors[name] = _("%(f)s: %(v)s is impossible; the allowed range is %(lo)s–%(hi)s%(u)s.") % {
            "f": label(name), "v": raw, "lo": _fmt(rng.low), "hi": _fmt(rng.high),
            "u": f" {rng.unit}" if rng.unit else ""}
    elif rng.decimals and -value.normalize().as_tuple().exponent > rng.decimals:
        # The CRF stores this many decimals: more would be rounded silently, and a rounded
        # value can land on the other side of a threshold (INR 2.004 → 2.00).
        errors[name] = _("%(f)s: at most %(d)s decimal places (found %(v)s).") % {
            "f": label(name), "d": rng.decimals, "v": raw}


def hard_errors(data: Mapping[str, Any], now: datetime) -> dict[str, str]:
    """Impossible values: {field name: message naming the field and the rule}."""
    errors: dict[str, str] = {}
    for name, rng in P.RANGES.items():
        _check_range(errors, name, data.get(name), rng)
    for name in ("age_years", "prestroke_mrs", "nihss_baseline", "aspects", "pc_aspects"):
        value = derive.to_decimal(data.get(name))
        if name not in errors and value is not None and value != value.to_integral_value():
            errors[name] = _("%(f)s: a whole number is expected.") % {"f": label(name)}

    # NIHSS items: range per item; UN only where the scale allows it (SCALES.md).
    items = data.get("nihss_items") or {}
    for code, (maximum, un_allowed) in P.NIHSS_ITEMS.items():
        raw = items.get(code)
        if raw is None or raw == "":
            continue
        field = f"nihss_{code}"
        value = derive.nihss_item_value(raw) if str(raw).strip().upper() == P.NIHSS_UNTESTABLE or \
            str(raw).strip().lstrip("-").isdigit() else None
        if value == P.NIHSS_UNTESTABLE:
            if not un_allowed:
                errors[field] = _("NIHSS %(c)s: UN (untestable) is not allowed for this item.") % {"c": code}
        elif value is None or not 0 <= int(value) <= maximum:
            errors[field] = _("NIHSS %(c)s: %(v)s is impossible; the item scores 0–%(m)s%(un)s.") % {
                "c": code, "v": raw, "m": maximum, "un": _(" or UN") if un_allowed else ""}

    if not any(k.startswith("nihss_") for k in errors):
        problem = nihss_total_error(items, data.get("nihss_baseline"))
        if problem:
            errors["nihss_baseline"] = problem

    # Creatinine: the unit decides the threshold, so a value without a unit is refused.
    creatinine, unit = data.get("creatinine"), data.get("creatinine_unit") or ""
    if creatinine not in (None, "") and not derive.is_pending(creatinine):
        if unit not in P.CREATININE_RANGES:
            errors["creatinine_unit"] = _("Creatinine unit: choose µmol/L or mg/dL; the threshold "
                                          "(220 µmol/L or 2.5 mg/dL) depends on it.")
        else:
            _check_range(errors, "creatinine", creatinine, P.CREATININE_RANGES[unit])

    # Times: none before 1900 nor in the future; text without control characters (the bounds
    # of every value, core.bounds); then last known well ≤ puncture (SPEC §8 date order).
    for name, value in data.items():
        if name in errors or not isinstance(value, datetime | str | dict | list):
            continue
        problem = bounds.value_problem(value, now=now)
        if problem is None:
            continue
        if isinstance(value, datetime) and value > now:
            errors[name] = _("%(f)s: a time in the future is impossible.") % {"f": label(name)}
        else:
            errors[name] = f"{label(name)}: {problem}"
    lkw, puncture = data.get("last_known_well"), data.get("arterial_puncture_at")
    if isinstance(lkw, datetime) and isinstance(puncture, datetime) and puncture < lkw \
            and "arterial_puncture_at" not in errors:
        errors["arterial_puncture_at"] = _("Arterial puncture: it cannot be before last known well "
                                           "(date order: last known well ≤ puncture).")

    for key, allowed in (("occlusion_site", P.OCCLUSION_SITES), ("consent", P.CONSENT_CODES),
                         ("sex", ("female", "male"))):
        value = data.get(key)
        if value not in (None, "") and value not in allowed:
            errors[key] = _("%(f)s: %(v)s is not one of %(a)s.") % {
                "f": label(key), "v": value, "a": ", ".join(allowed)}
    for i, p in enumerate(data.get("passes") or [], start=1):
        if (p or {}).get("technique") not in (None, "", *P.TECHNIQUES):
            errors[f"passes[{i}].technique"] = _("Pass %(i)s: unknown technique.") % {"i": i}
        if (p or {}).get("etici") not in (None, "", *P.ETICI_CODES):
            errors[f"passes[{i}].etici"] = _("Pass %(i)s: eTICI must be one of %(c)s.") % {
                "i": i, "c": ", ".join(P.ETICI_CODES)}
    return errors


def nihss_total_error(items: Mapping[str, Any] | None, typed_total: Any) -> str | None:
    """SPEC §4: the NIHSS is entered as the total or as the 15 items. Both may be entered only
    when they agree (the total equals the sum of the 15 items, UN counting 0); a total typed beside a partial set of
    items is refused too, since it is unclear which one is meant."""
    typed = derive.to_int(typed_total)
    result = derive.nihss(dict(items or {}))
    if typed is None or not result.from_items:
        return None
    if not result.missing_items and result.total != typed:
        return _("NIHSS total: %(t)s typed, but the %(n)s items add up to %(s)s. Rule: the total "
                 "equals the sum of the items (UN counts 0); correct one of them, or clear the total "
                 "or the items.") % {"t": typed, "s": result.total, "n": len(P.NIHSS_ITEMS)}
    if result.missing_items and result.partial_sum > typed:
        return _("NIHSS total: %(t)s typed, but the items entered so far already add up to %(s)s. "
                 "Rule: the total equals the sum of the items (UN counts 0).") % {
            "t": typed, "s": result.partial_sum}
    if result.missing_items:
        return _("NIHSS total: typed together with %(k)s of %(n)s items. Rule: enter the total alone, "
                 "or all %(n)s items (their sum must equal the total).") % {
            "k": len(P.NIHSS_ITEMS) - len(result.missing_items), "n": len(P.NIHSS_ITEMS)}
    return None


def unusual_values(data: Mapping[str, Any]) -> list[str]:
    """Possible but unusual values: saved, with a warning (and a query, through the
    data-management edit checks)."""
    return [str(message) for _field, message in unusual_by_field(data)]


def unusual_by_field(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each unusual value."""
    out: list[tuple[str, str]] = []
    for name, rng in P.RANGES.items():
        out.extend((name, m) for m in _unusual(name, data.get(name), rng))
    unit = data.get("creatinine_unit")
    if unit in P.CREATININE_RANGES:
        out.extend(("creatinine", m) for m in _unusual("creatinine", data.get("creatinine"),
                                                       P.CREATININE_RANGES[unit]))
    interval = derive.lkw_to_puncture(data.get("last_known_well"), data.get("arterial_puncture_at"))
    if interval is not None and timedelta(0) <= interval < P.LKW_TO_PUNCTURE_USUAL_MIN:
        out.append(("arterial_puncture_at", Message(
            gettext_noop("Last known well → puncture only %(i)s: unusually short, please check."),
            i=derive.format_interval(interval))))
    return out


def _unusual(name: str, raw: Any, rng: P.Range) -> list[str]:
    value = derive.to_decimal(raw)
    if value is None or not rng.low <= value <= rng.high:
        return []
    if (rng.usual_low is not None and value < rng.usual_low) or (
            rng.usual_high is not None and value > rng.usual_high):
        # A Message: stored with a query as msgid and parameters, shown in the reader's language.
        return [Message(gettext_noop("%(f)s %(v)s%(u)s is unusual (usual %(lo)s–%(hi)s): please check."),
                        f=LABELS.get(name) or label(name), v=_fmt(value),
                        u=Message(gettext_noop(" %(unit)s"), unit=rng.unit) if rng.unit else "",
                        lo=_fmt(rng.usual_low if rng.usual_low is not None else rng.low),
                        hi=_fmt(rng.usual_high if rng.usual_high is not None else rng.high))]
    return []
