"""Writes of the follow-up CRFs: one service per form, all through `_crf_save`.

Each save: checks access (site scope, blinding, the day-90 form is the assessor's alone),
locks the form's row (optimistic lock: the caller states the version it read), runs the hard
checks (an impossible value refuses the save and names the field), derives totals and
classifications, and records the reason for change in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.services import change_reason
from core import access
from core.models import Subject, SubjectStatus
from core.roles import Action
from followup import nihss, schedule, sich
from followup.exceptions import HardCheckFailed, NotPermitted, ReasonRequired, StaleVersion
from followup.models import (
    ECASS_FIELDS,
    HEIDELBERG_FIELDS,
    AdverseEvent,
    Day90,
    Day90Source,
    Death,
    ExitKind,
    Procedure,
    ProcedurePass,
    ProtocolDeviation,
    ReminderState,
    StudyExit,
    Visit7d,
    Visit24h,
    Visit48h,
)

NIHSS_PREFIXES: dict[type[models.Model], tuple[str, ...]] = {
    Visit24h: ("nihss",),
    Visit48h: ("before", "worse"),
    Visit7d: ("nihss",),
}


def _require_entry(user, subject: Subject, *, day90: bool = False, reveals_arm: bool = False) -> None:
    if day90:
        # SPEC §2: the day-90 outcome is entered by the blinded assessor, and only by them.
        if not access.can(user, Action.ENTER_DAY90, subject.site_id):
            raise NotPermitted("Only the site's blinded outcome assessor may enter the day-90 form.")
        return
    if not access.can(user, Action.ENTER_CRF, subject.site_id):
        raise NotPermitted(f"You may not enter forms for subjects of site {subject.site.code}.")
    if reveals_arm and not access.sees_arm_at(user, subject.site_id):
        raise NotPermitted("This form reveals the treatment arm; blinded users may not open it.")


def _local_date(subject: Subject, instant: datetime) -> date:
    return timezone.localtime(instant, subject.site.tz).date()


def _t0_day(subject: Subject) -> date:
    return _local_date(subject, subject.randomized_at)


def _check_nihss(model, data: Mapping[str, Any], errors: dict[str, str]) -> None:
    for prefix in NIHSS_PREFIXES.get(model, ()):
        for err in nihss.check_items(data, prefix):
            errors[err.field] = str(err)
        uses_un = any(data.get(nihss.un_field_name(prefix, i)) for i in nihss.ITEMS if i.untestable)
        if uses_un and not str(data.get(f"{prefix}_un_explanation") or "").strip():
            errors[f"{prefix}_un_explanation"] = "An item scored UN needs a written explanation; none was given."
        for item in nihss.ITEMS:
            if item.untestable and data.get(nihss.un_field_name(prefix, item)) and \
                    data.get(nihss.field_name(prefix, item)) not in (None, ""):
                errors[nihss.field_name(prefix, item)] = (
                    f"Item {item.code} is marked UN and also scored {data.get(nihss.field_name(prefix, item))}; "
                    "give either a score or UN.")


def _not_before_t0(subject: Subject, data, fields: tuple[str, ...], errors: dict[str, str]) -> None:
    t0_day = _t0_day(subject)
    for name in fields:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            if value < subject.randomized_at:
                errors[name] = (f"must not be before randomization "
                                f"({timezone.localtime(subject.randomized_at, subject.site.tz):%Y-%m-%d %H:%M}); "
                                f"found {timezone.localtime(value, subject.site.tz):%Y-%m-%d %H:%M}.")
        elif value < t0_day:
            errors[name] = f"must not be before the day of randomization ({t0_day}); found {value}."


# A time may be this much ahead of the server clock (tablet clocks drift) before it counts as
# "in the future" (as on the screening form, eligibility.protocol.FUTURE_TOLERANCE).
FUTURE_TOLERANCE = timedelta(minutes=5)


def _not_in_future(subject: Subject, data, errors: dict[str, str]) -> None:
    """Hard check (SPEC §8, value impossible): no clinical date or time after now — a 24-hour
    NIHSS, a discharge or a death in the year 9999 was saved before this check."""
    now = timezone.now()
    today = _local_date(subject, now)
    for name, value in data.items():
        if name in errors or value is None:
            continue
        if isinstance(value, datetime):
            if value > now + FUTURE_TOLERANCE:
                errors[name] = (f"A time in the future is impossible; found "
                                f"{timezone.localtime(value, subject.site.tz):%Y-%m-%d %H:%M}.")
        elif isinstance(value, date) and value > today:
            errors[name] = f"A date in the future is impossible (today is {today}); found {value}."


def _dm_write(instance, user, reason: str):
    """Data-management guard around one CRF save (datamanagement.services.crf_write): lock
    check, reason for change, the edit checks (soft ones open queries), SDV and signature
    upkeep. Its refusals are the shared core.exceptions types the form views show."""
    from datamanagement.services import crf_write

    return crf_write(instance=instance, user=user, reason=reason)


def _crf_save(
    *,
    model: type[models.Model],
    subject: Subject,
    user,
    data: Mapping[str, Any],
    version: int | None,
    reason: str = "",
    pk: int | None = None,
    check: Callable[[Subject, dict, dict], None] | None = None,
    derive: Callable[[Subject, models.Model], None] | None = None,
) -> models.Model:
    """Create or update one CRF row of `subject` (inside the caller's durable transaction).

    Race prevented: two users saving the same form at once. The row is locked FOR NO KEY
    UPDATE and its version compared with the one the user read; the second writer gets
    StaleVersion (both versions shown), never a silent overwrite. Two first saves at once
    collide on the UNIQUE subject key (one-to-one forms) and the loser gets StaleVersion too.
    """
    data = dict(data)
    errors: dict[str, str] = {}
    _check_nihss(model, data, errors)
    if check is not None:
        check(subject, data, errors)
    _not_in_future(subject, data, errors)
    lookup = {"pk": pk, "subject": subject} if pk is not None else {"subject": subject}
    repeating = pk is not None or model in (AdverseEvent, ProtocolDeviation)
    instance = None
    if pk is not None or not repeating:
        instance = model.objects.select_for_update(no_key=True).filter(**lookup).first()
        if pk is not None and instance is None:
            raise NotPermitted("This record does not belong to the subject.")
    if instance is not None and version != instance.version:
        raise StaleVersion(current=instance, expected=version)
    if instance is None and version:
        # The user edited a saved form that no longer matches (should not happen: no delete).
        raise StaleVersion(current=None, expected=version)
    if errors:
        raise HardCheckFailed(errors)
    if instance is not None and not reason.strip():
        raise ReasonRequired()
    if instance is None:
        instance = model(subject=subject, created_by=user)
    for name, value in data.items():
        setattr(instance, name, value)
    if derive is not None:
        derive(subject, instance)
    instance.updated_by = user
    with change_reason(reason or "initial entry"), _dm_write(instance, user, reason or "initial entry"):
        if instance.pk is None:
            try:
                with transaction.atomic():
                    instance.save()
            except IntegrityError:
                current = model.objects.filter(subject=subject).first()
                raise StaleVersion(current=current, expected=version) from None
        else:
            instance.version += 1
            instance.save()
    return instance


def _nihss_totals(model):
    def derive(subject, instance):
        values = {f.name: getattr(instance, f.name) for f in instance._meta.concrete_fields}
        for prefix in NIHSS_PREFIXES[model]:
            setattr(instance, f"{prefix}_total", nihss.total(values, prefix))
    return derive


# --- V1 procedure -----------------------------------------------------------------------------


def _check_procedure(subject: Subject, data: dict, errors: dict[str, str]) -> None:
    # SPEC §8 date order: puncture ≤ randomization ≤ reperfusion ≤ end of procedure.
    puncture, reperfusion, end = (data.get(k) for k in
                                  ("arterial_puncture_at", "first_reperfusion_at", "procedure_end_at"))
    t0 = subject.randomized_at
    if puncture and puncture > t0:
        errors["arterial_puncture_at"] = "The arterial puncture must precede randomization; it is after it."
    if reperfusion and reperfusion < t0:
        errors["first_reperfusion_at"] = "Reperfusion after rescue therapy must follow randomization; it is before it."
    if end and end < max(x for x in (t0, reperfusion or t0)):
        errors["procedure_end_at"] = "The end of the procedure must follow randomization and reperfusion."


@transaction.atomic(durable=True)
def procedure_save(*, subject: Subject, user, data: Mapping[str, Any], passes: list[Mapping[str, Any]],
                   version: int | None, reason: str = "") -> Procedure:
    """V1: the procedure form and its passes after randomization (positions 1..n)."""
    _require_entry(user, subject, reveals_arm=True)
    for i, p in enumerate(passes, start=1):
        if p.get("at") and p["at"] < subject.randomized_at:
            raise HardCheckFailed({f"pass {i} time": "A pass after randomization cannot be before it."})
    procedure = _crf_save(model=Procedure, subject=subject, user=user, data=data, version=version,
                          reason=reason, check=_check_procedure)
    existing = {p.position: p for p in ProcedurePass.objects.select_for_update(no_key=True)
                .filter(procedure=procedure)}
    with change_reason(reason or "initial entry"):
        for position, values in enumerate(passes, start=1):
            row = existing.get(position) or ProcedurePass(procedure=procedure, position=position)
            changed = row.pk is None
            for name in ("technique", "device", "at", "etici"):
                if getattr(row, name) != values.get(name, getattr(row, name)):
                    setattr(row, name, values.get(name))
                    changed = True
            if changed:
                if row.pk is not None:
                    row.version += 1
                with _dm_write(row, user, reason or "initial entry"):
                    row.save()
    return procedure


# --- V2, V3, V4 -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def visit24h_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                  reason: str = "") -> Visit24h:
    _require_entry(user, subject)
    return _crf_save(model=Visit24h, subject=subject, user=user, data=data, version=version,
                     reason=reason, derive=_nihss_totals(Visit24h),
                     check=lambda s, d, e: _not_before_t0(s, d, ("assessed_at",), e))


def baseline_nihss(subject: Subject) -> int | None:
    """NIHSS at baseline, from the screening CRF that led to the randomization."""
    from eligibility.models import Screening
    from randomization.models import Allocation

    screening_ids = Allocation.objects.filter(subject_id=subject.pk).values("screening_id")
    return Screening.objects.filter(pk__in=screening_ids).values_list("nihss_baseline", flat=True).first()


def sich_input(subject: Subject, v3: Visit48h, baseline: int | None) -> sich.SICHInput:
    hours = None
    if v3.imaging_at is not None:
        hours = (v3.imaging_at - subject.randomized_at).total_seconds() / 3600
    died = bool(v3.died) or Death.objects.filter(subject=subject).exists()
    return sich.SICHInput(
        new_ich=v3.new_ich,
        heidelberg_classes=frozenset(c for c, (f, _l) in HEIDELBERG_FIELDS.items() if getattr(v3, f)),
        ecass_types=frozenset(c for c, (f, _l) in ECASS_FIELDS.items() if getattr(v3, f)),
        nihss_baseline=baseline,
        nihss_before_worsening=v3.before_total,
        nihss_at_worsening=v3.worse_total,
        item_changes=v3.nihss_item_changes or {},
        nihss_lowest_7d=v3.nihss_lowest_7d,
        nihss_lowest_24h=v3.nihss_lowest_24h,
        major_intervention=v3.major_intervention,
        alternative_explanation=v3.alternative_explanation,
        died=died,
        ich_predominant_cause=v3.ich_predominant_cause,
        imaging_hours_after_t0=hours,
        imaging_at_worsening=v3.imaging_at_worsening,
    )


def _derive_v3(subject: Subject, v3: Visit48h) -> None:
    _nihss_totals(Visit48h)(subject, v3)
    values = {f.name: getattr(v3, f.name) for f in v3._meta.concrete_fields}
    v3.nihss_item_changes = nihss.item_changes(values, before="before", at="worse")
    results = sich.derive_all(sich_input(subject, v3, baseline_nihss(subject)))
    v3.sich_heidelberg = results[sich.HEIDELBERG].sich
    v3.sich_ecass3 = results[sich.ECASS3].sich
    v3.sich_sits_most = results[sich.SITS_MOST].sich
    v3.sich_reasoning = {k: r.text for k, r in results.items()}


def _check_v3(subject: Subject, data: dict, errors: dict[str, str]) -> None:
    _not_before_t0(subject, data, ("imaging_at", "worsening_at"), errors)
    classes = [f for f, _l in HEIDELBERG_FIELDS.values() if data.get(f)]
    if data.get("new_ich") is False and classes:
        errors["new_ich"] = "No new ICH is recorded, yet Heidelberg classes are ticked; correct one of them."


@transaction.atomic(durable=True)
def visit48h_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                  reason: str = "") -> Visit48h:
    _require_entry(user, subject)
    row = _crf_save(model=Visit48h, subject=subject, user=user, data=data, version=version,
                    reason=reason, derive=_derive_v3, check=_check_v3)
    if row.died:
        _death_effects(subject, user, died_on=None, where="48-hour form")
    return row


@transaction.atomic(durable=True)
def visit7d_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                 reason: str = "") -> Visit7d:
    _require_entry(user, subject)
    row = _crf_save(model=Visit7d, subject=subject, user=user, data=data, version=version,
                     reason=reason, derive=_nihss_totals(Visit7d),
                     check=lambda s, d, e: _not_before_t0(s, d, ("assessed_on", "discharge_on"), e))
    if row.destination == "died":
        _death_effects(subject, user, died_on=row.discharge_on or row.assessed_on, where="day-7 form")
    return row


# --- V5 day 90 --------------------------------------------------------------------------------


def _check_day90(subject: Subject, data: dict, errors: dict[str, str]) -> None:
    _not_before_t0(subject, data, ("assessed_on", "death_on"), errors)
    if not data.get("blinded_attested") and not str(data.get("breach_reference") or "").strip():
        errors["blinded_attested"] = ("Attest that you remained blinded, or give the blinding-breach "
                                      "report reference; neither was given.")


def _derive_day90(subject: Subject, row: Day90) -> None:
    if row.assessed_on is not None:
        row.study_day = schedule.day_number(subject.randomized_at, subject.site.tz, row.assessed_on)
        window = schedule.visit_windows(subject.randomized_at, subject.site.tz)[-1]
        # Soft check (SPEC §8): outside day 83–97 is saved with a warning, not refused.
        row.outside_window = not (window.opens.date() <= row.assessed_on <= window.last_day)


@transaction.atomic(durable=True)
def day90_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
               reason: str = "") -> Day90:
    """V5: the primary endpoint, by the blinded assessor (who is recorded as the assessor)."""
    _require_entry(user, subject, day90=True)
    data = {**data, "assessor": user, "source": Day90Source.ASSESSMENT}
    return _crf_save(model=Day90, subject=subject, user=user, data=data, version=version,
                     reason=reason, derive=_derive_day90, check=_check_day90)


# --- Events -----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def adverse_event_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                       pk: int | None = None, reason: str = "") -> AdverseEvent:
    _require_entry(user, subject)

    def check(s, d, errors):
        if d.get("resolved_on") and d.get("onset_on") and d["resolved_on"] < d["onset_on"]:
            errors["resolved_on"] = f"The resolution date must not precede the onset ({d['onset_on']})."
        criteria = [k for k in d if k.startswith("sae_") and d[k]]
        if d.get("serious") and not criteria:
            errors["serious"] = "A serious adverse event needs at least one seriousness criterion; none is ticked."

    row = _crf_save(model=AdverseEvent, subject=subject, user=user, data=data, version=version,
                    reason=reason, pk=pk, check=check)
    if row.outcome == "fatal":
        _death_effects(subject, user, died_on=row.resolved_on, where=f"fatal adverse event {row.term}")
    return row


@transaction.atomic(durable=True)
def deviation_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                   pk: int | None = None, reason: str = "") -> ProtocolDeviation:
    _require_entry(user, subject)
    return _crf_save(model=ProtocolDeviation, subject=subject, user=user, data=data, version=version,
                     reason=reason, pk=pk)


def _subject_status_set(subject: Subject, status: str) -> None:
    # Race prevented: a death and a withdrawal recorded at once; the subject row is locked so
    # the last status written is the one whose form committed last.
    locked = Subject.objects.select_for_update(no_key=True).get(pk=subject.pk)
    locked.status = status
    locked.status_changed_at = timezone.now()
    locked.save(update_fields=["status", "status_changed_at"])
    subject.status = status
    # No reminder is sent for a subject off study (SPEC §7).
    from followup.models import Reminder

    Reminder.objects.filter(subject=subject, state=ReminderState.SCHEDULED).update(
        state=ReminderState.CANCELLED)


def _death_effects(subject: Subject, user, *, died_on, where: str) -> None:
    """SPEC §6: a death recorded anywhere (death form, fatal adverse event, V3 "died",
    V4 destination "died") makes the subject dead, stops reminders and sets the day-90 mRS
    to 6 (with the date of death when known)."""
    if subject.status != SubjectStatus.DEAD:
        _subject_status_set(subject, SubjectStatus.DEAD)
    day90 = Day90.objects.select_for_update(no_key=True).filter(subject=subject).first()
    why = f"death recorded ({where}{f', died on {died_on}' if died_on else ''}): day-90 mRS 6"
    with change_reason(why):
        if day90 is None:
            day90 = Day90(subject=subject, created_by=user, updated_by=user, mrs=6,
                          death_on=died_on, source=Day90Source.DEATH)
            with _dm_write(day90, user, why):
                day90.save()
        elif day90.mrs != 6 or (died_on and day90.death_on != died_on):
            day90.mrs = 6
            day90.death_on = died_on or day90.death_on
            day90.version += 1
            day90.updated_by = user
            with _dm_write(day90, user, why):
                day90.save()


@transaction.atomic(durable=True)
def death_record(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                 reason: str = "") -> Death:
    """Record a death: day-90 mRS becomes 6, the subject is dead, reminders stop."""
    _require_entry(user, subject)
    death = _crf_save(model=Death, subject=subject, user=user, data=data, version=version,
                      reason=reason, check=lambda s, d, e: _not_before_t0(s, d, ("died_on",), e))
    _death_effects(subject, user, died_on=death.died_on, where="death form")
    return death


@transaction.atomic(durable=True)
def study_exit_record(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                      reason: str = "") -> StudyExit:
    """Withdrawal, lost to follow-up or end of study: the subject status follows, reminders stop."""
    _require_entry(user, subject)
    row = _crf_save(model=StudyExit, subject=subject, user=user, data=data, version=version,
                    reason=reason, check=lambda s, d, e: _not_before_t0(s, d, ("exit_on",), e))
    if subject.status != SubjectStatus.DEAD:
        _subject_status_set(subject, {ExitKind.WITHDRAWN: SubjectStatus.WITHDRAWN,
                                      ExitKind.LOST: SubjectStatus.LOST,
                                      ExitKind.COMPLETED: SubjectStatus.COMPLETED}[row.kind])
    return row
