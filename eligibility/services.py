"""Writes of the screening workflow (SPEC §3, §4, §10): create, update, confirm, close.

Every service re-validates (hard edit checks), re-evaluates the verdict with
eligibility.rules.evaluate and stores it with the raw data, so the stored verdict can never
drift from the stored values. Row changes are recorded by the pghistory triggers (with the
user and the reason for change); each action also writes an AuditEvent.
"""

from __future__ import annotations

from typing import Any

import pghistory
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record, change_reason
from core import access
from core import protocol as P
from core.exceptions import HardCheckFailed, ReasonRequired, StaleVersion
from core.models import Site
from core.roles import Action
from core.services import site_next_number
from core.txn import durable
from eligibility import derive, rules
from eligibility.data import normalize as normalize_data
from eligibility.data import screening_data
from eligibility.exceptions import (
    CloseReasonInvalid,
    ScreeningAlreadyConfirmed,
    ScreeningClosed,
    ScreeningNotConfirmed,
    ScreeningNotEligible,
    ScreeningNotPermitted,
)
from eligibility.models import Screening, ScreeningOutcome, ScreeningPass, VerdictStatus
from eligibility.validation import hard_errors

CLOSE_REASONS = (
    ScreeningOutcome.CLOSED_INELIGIBLE,
    ScreeningOutcome.CLOSED_CONSENT_REFUSED,
    ScreeningOutcome.CLOSED_RECANALIZED,
    ScreeningOutcome.CLOSED_OTHER,
)


def _require(user, action: str, site_id: int) -> None:
    if not access.can(user, action, site_id):
        raise ScreeningNotPermitted(
            _("Your roles do not allow '%(a)s' at this site.") % {"a": Action(action).label})


def _dm_write(row: Screening, user, reason: str):
    """Data-management guard around a screening save (datamanagement.services.crf_write):
    lock check, reason for change, edit checks, SDV and signature upkeep. Its refusals are the
    shared core.exceptions types, which the views show beside the fields."""
    from datamanagement.services import crf_write

    return crf_write(instance=row, user=user, reason=reason)


def _who(user):
    """pghistory context so every row change names its author, even outside a request."""
    return pghistory.context(user=user.pk, username=user.username)


def _lock(screening: Screening) -> Screening:
    # Race prevented: two saves (or a save and a confirm) of one screening at once, each
    # passing the version check and the second silently overwriting the first. NO KEY UPDATE
    # because the key never changes; it still lets ScreeningPass rows reference the row.
    return Screening.objects.select_for_update(no_key=True).get(pk=screening.pk)


def _check_attestation(*, user, site_id: int, before: bool, after: bool) -> None:
    # SPEC §4 [decision]: a lab may be pending only with the *investigator's* attestation.
    if after and not before and not access.can(user, Action.CONFIRM_ELIGIBILITY, site_id):
        raise HardCheckFailed({"lab_pending_attested": _(
            "Attestation (no clinical suspicion of coagulopathy / renal failure): only an "
            "investigator may give it.")})


def _store(screening: Screening, data: dict[str, Any], user) -> rules.Verdict:
    """Copy the raw values onto the row, then the derived values and the verdict."""
    for name in ("age_years", "prestroke_mrs", "last_known_well", "arterial_puncture_at",
                 "aspects", "pc_aspects", "evt_intended", "ich_on_imaging", "fpct_major_hemorrhage",
                 "gi_gu_bleeding_30d", "major_surgery_14d", "doac_48h", "hit_history",
                 "pregnant_or_lactating", "contrast_contraindication", "nickel_titanium_allergy",
                 "life_expectancy_lt_6m", "confounding_neuro_psych", "tortuosity_prevents_delivery",
                 "unlikely_90d_followup", "consent_at"):
        setattr(screening, name, data.get(name))
    for name in ("sex", "occlusion_site", "creatinine_unit", "consent", "nihss_un_reason"):
        setattr(screening, name, data.get(name) or "")
    screening.nihss_items = data.get("nihss_items") or {}
    for lab in P.PENDABLE_LABS:
        value = data.get(lab)
        pending = value == P.PENDING
        setattr(screening, f"{lab}_pending", pending)
        setattr(screening, lab, None if pending else value)
    attested = bool(data.get("lab_pending_attested"))
    if attested and not screening.lab_pending_attested:
        screening.lab_pending_attested_by, screening.lab_pending_attested_at = user, timezone.now()
    elif not attested:
        screening.lab_pending_attested_by, screening.lab_pending_attested_at = None, None
    screening.lab_pending_attested = attested

    verdict = rules.evaluate(data)
    nihss = derive.nihss(data.get("nihss_items"), data.get("nihss_baseline"))
    screening.nihss_baseline = nihss.total
    screening.nihss_entry = derive.nihss_entry(data.get("nihss_items"), data.get("nihss_baseline"))
    screening.circulation = verdict.circulation or ""
    screening.verdict_status = verdict.status
    screening.verdict_failed = verdict.failed
    screening.verdict_missing = verdict.missing
    screening.verdict_warnings = verdict.warnings
    return verdict


def _store_passes(screening: Screening, passes: list[dict[str, Any]]) -> None:
    """Passes are kept in order; a changed pass is updated in place (its history kept by the
    triggers), a removed one deactivated, never deleted."""
    existing = {p.position: p for p in screening.passes.filter(active=True)}
    for position, item in enumerate(passes, start=1):
        technique, etici = item.get("technique") or "", item.get("etici") or ""
        row = existing.pop(position, None)
        if row is None:
            ScreeningPass.objects.create(screening=screening, position=position,
                                         technique=technique, etici=etici)
        elif (row.technique, row.etici) != (technique, etici):
            row.technique, row.etici = technique, etici
            row.save(update_fields=["technique", "etici"])
    for row in existing.values():
        row.active = False
        row.save(update_fields=["active"])


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    clean = normalize_data(data)
    errors = hard_errors(clean, timezone.now())
    if errors:
        raise HardCheckFailed(errors)
    return clean


def screening_number(site: Site, n: int) -> str:
    """SPEC §3 [decision]: {site}-S{nnnn}, e.g. 001-S0007."""
    return f"{site.code}-S{n:04d}"


@transaction.atomic(durable=True)
def screening_create(*, site: Site, user, data: dict[str, Any]) -> Screening:
    """Start a screening: store the raw data (complete or partial) and its verdict, and give
    the screening number."""
    _require(user, Action.SCREEN, site.pk)
    clean = _validated(data)
    _check_attestation(user=user, site_id=site.pk, before=False, after=bool(clean.get("lab_pending_attested")))
    clean.setdefault("passes", [])
    with _who(user):
        screening = Screening(site=site, created_by=user,
                              number=screening_number(site, site_next_number(site=site, kind="screening")))
        verdict = _store(screening, clean, user)
        with _dm_write(screening, user, "first entry"):
            screening.save()
        _store_passes(screening, clean["passes"])
        audit_event_record(
            action=AuditAction.SCREENING, actor=user, site=site, obj=screening,
            summary=f"Screening {screening.number} started: {verdict.status}",
            detail={"event": "created", "verdict": verdict.status, "failed": verdict.failed,
                    "missing": verdict.missing},
        )
    return screening


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(fields that changed at all, fields whose previously saved value changed)."""
    changed, overwritten = [], []
    for name, new in after.items():
        old = before.get(name)
        if name == "nihss_items":
            keys = set(old or {}) | set(new or {})
            diff = [k for k in keys if (old or {}).get(k) != (new or {}).get(k)]
            if diff:
                changed.append(name)
                if any((old or {}).get(k) is not None for k in diff):
                    overwritten.append(name)
            continue
        if name in P.PENDABLE_LABS and old is not None and new is not None and old != P.PENDING \
                and new != P.PENDING and derive.to_decimal(old) == derive.to_decimal(new):
            continue
        if old != new and not (_blank(old) and _blank(new)):
            changed.append(name)
            # Filling a blank (or replacing "pending" by the result) is not a change of data.
            if not _blank(old) and old != P.PENDING and not (name == "passes" and _extends(old, new)):
                overwritten.append(name)
    return changed, overwritten


def _blank(value: Any) -> bool:
    # Identity checks on purpose: 0 and False are answers, not blanks (0 == False in Python).
    return value is None or (isinstance(value, str | list | dict) and not value)


def _extends(old: list, new: list) -> bool:
    return len(new) > len(old) and new[: len(old)] == old


@durable
def screening_update(*, screening: Screening, user, data: dict[str, Any], version: int,
                     reason: str = "") -> Screening:
    """Save more or changed data. `version` is the version the user started from (optimistic
    locking); keys absent from `data` keep their value. Changing a value saved before needs a
    reason for change (SPEC §8); filling a blank does not."""
    _require(user, Action.SCREEN, screening.site_id)
    clean = _validated(data)
    with _who(user):
        row = _lock(screening)
        if row.version != version:
            raise StaleVersion(expected=version, found=row.version)
        if row.outcome not in (ScreeningOutcome.OPEN, ScreeningOutcome.RANDOMIZED):
            raise ScreeningClosed(row.outcome)
        before = screening_data(row)
        after = {**before, **clean}
        changed, overwritten = _changed_fields(before, after)
        if not changed:
            return row
        if overwritten and not reason.strip():
            raise ReasonRequired(overwritten)
        _check_attestation(user=user, site_id=row.site_id, before=row.lab_pending_attested,
                           after=bool(after.get("lab_pending_attested")))
        previous_status = row.verdict_status
        with change_reason(reason.strip() or "data entry"):
            verdict = _store(row, after, user)
            events = []
            if row.confirmed_at and row.outcome == ScreeningOutcome.OPEN:
                # The investigator confirmed other values: the confirmation no longer holds.
                row.confirmed_at, row.confirmed_by = None, None
                events.append("confirmation withdrawn: data changed after confirmation")
            if row.outcome == ScreeningOutcome.RANDOMIZED and verdict.status == VerdictStatus.INELIGIBLE:
                # SPEC §4: a later lab value beyond a threshold after an attested "pending" is a
                # protocol deviation; the deviation form (follow-up) is filed by the site.
                events.append(f"protocol deviation: criteria {', '.join(verdict.failed)} not met "
                              "after randomization")
            row.version += 1
            with _dm_write(row, user, reason.strip() or "data entry"):
                row.save()
            if "passes" in changed:
                _store_passes(row, after["passes"])
        audit_event_record(
            action=AuditAction.SCREENING, actor=user, site=row.site, obj=row, reason=reason,
            summary=f"Screening {row.number} updated: {previous_status} → {verdict.status}"
                    + ("; " + "; ".join(events) if events else ""),
            detail={"event": "updated", "changed": changed, "verdict": verdict.status,
                    "failed": verdict.failed, "missing": verdict.missing, "notes": events},
        )
    return row


@transaction.atomic(durable=True)
def screening_confirm(*, screening: Screening, user) -> Screening:
    """An investigator of the site confirms eligibility (consent must be recorded: who and
    when, IN9). Refused for every other role."""
    _require(user, Action.CONFIRM_ELIGIBILITY, screening.site_id)
    with _who(user):
        row = _lock(screening)
        if row.outcome != ScreeningOutcome.OPEN:
            raise ScreeningClosed(row.outcome)
        if row.confirmed_at is not None:
            raise ScreeningAlreadyConfirmed()
        verdict = rules.evaluate(screening_data(row))
        if verdict.status != VerdictStatus.ELIGIBLE:
            raise ScreeningNotEligible(status=verdict.status, failed=verdict.failed, missing=verdict.missing)
        row.confirmed_by, row.confirmed_at = user, timezone.now()
        row.version += 1
        with change_reason("eligibility confirmed by the investigator"), \
                _dm_write(row, user, "eligibility confirmed by the investigator"):
            row.save()
        audit_event_record(
            action=AuditAction.SCREENING, actor=user, site=row.site, obj=row,
            summary=f"Eligibility of {row.number} confirmed (consent: {row.consent}, "
                    f"{row.consent_at:%Y-%m-%d %H:%M} UTC)",
            detail={"event": "confirmed", "consent": row.consent,
                    "consent_at": row.consent_at.isoformat(), "warnings": verdict.warnings},
        )
    return row


@transaction.atomic(durable=True)
def screening_close(*, screening: Screening, user, reason: str, text: str = "") -> Screening:
    """Close a screening that will not be randomized, keeping its reason for the screening log
    (CONSORT): ineligible (the failed codes), consent refused, recanalized after the third
    pass, or other (text required)."""
    _require(user, Action.SCREEN, screening.site_id)
    if reason not in CLOSE_REASONS:
        raise CloseReasonInvalid(_("Closing reason must be one of %(r)s; got %(g)s.") % {
            "r": ", ".join(CLOSE_REASONS), "g": reason})
    text = (text or "").strip()
    if reason == ScreeningOutcome.CLOSED_OTHER and not text:
        raise CloseReasonInvalid(_("Closing as 'other' needs a written reason."))
    with _who(user):
        row = _lock(screening)
        if row.outcome != ScreeningOutcome.OPEN:
            raise ScreeningClosed(row.outcome)
        codes: list[str] = []
        if reason == ScreeningOutcome.CLOSED_INELIGIBLE:
            verdict = rules.evaluate(screening_data(row))
            if verdict.status != VerdictStatus.INELIGIBLE:
                raise CloseReasonInvalid(
                    _("Closing as ineligible needs a failed criterion; the verdict is '%(s)s'.")
                    % {"s": verdict.status})
            codes = verdict.failed
        row.outcome, row.closed_reason_codes, row.closed_reason_text = reason, codes, text
        row.closed_at = timezone.now()
        row.version += 1
        with change_reason(f"screening closed: {reason}"), _dm_write(row, user, f"screening closed: {reason}"):
            row.save()
        audit_event_record(
            action=AuditAction.SCREENING, actor=user, site=row.site, obj=row, reason=text,
            summary=f"Screening {row.number} closed: {reason}" + (f" ({', '.join(codes)})" if codes else ""),
            detail={"event": "closed", "reason": reason, "codes": codes},
        )
    return row


def screening_mark_randomized(*, screening: Screening) -> Screening:
    """For randomization.services.subject_randomize, inside ITS transaction (not durable):
    the screening's outcome becomes 'randomized'. The caller has locked the screening row and
    checked eligibility, confirmation and consent; this re-checks the invariants."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("screening_mark_randomized must run inside the randomizing transaction")
    if screening.outcome != ScreeningOutcome.OPEN:
        raise ScreeningClosed(screening.outcome)
    if screening.confirmed_at is None:
        raise ScreeningNotConfirmed()
    # One UPDATE written by hand: this runs on the randomization hot path, where composing it
    # through the ORM costs more than PostgreSQL needs to run it. Its pghistory trigger audits it.
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Screening._meta.db_table} SET outcome = %s, version = version + 1, "
                       "updated_at = %s WHERE id = %s RETURNING version",
                       [ScreeningOutcome.RANDOMIZED, now, screening.pk])
        (screening.version,) = cursor.fetchone()
    screening.outcome, screening.updated_at = ScreeningOutcome.RANDOMIZED, now
    return screening


def screening_correct(*, instance: Screening, user, data: dict[str, Any], reason: str) -> Screening:
    """The screening's update as the CRF registry calls it (a correction through a query), in
    the caller's transaction: the stored values plus the correction, through screening_update
    so the verdict is re-derived and every check runs."""
    instance.refresh_from_db()
    return screening_update.inner(screening=instance, user=user, data={**screening_data(instance), **data},
                                  version=instance.version, reason=reason)
