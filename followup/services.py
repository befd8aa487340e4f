"""Writes of the follow-up CRFs: one service per form, all through `_crf_save`.

Each save: checks access (site scope, blinding, the day-90 form is the assessor's alone),
locks the form's row (optimistic lock: the caller states the version it read), runs the hard
checks (an impossible value refuses the save and names the field), derives totals and
classifications, and records the reason for change in the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_event_record, change_reason
from core import access, blinding
from core import protocol as P
from core.models import Subject, SubjectStatus
from core.roles import Action
from core.txn import durable
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
    if reveals_arm and not blinding.may_see_arm(user, subject.site_id):
        raise NotPermitted("This form reveals the treatment arm; blinded users may not open it.")


def _local_date(subject: Subject, instant: datetime) -> date:
    return timezone.localtime(instant, subject.site.tz).date()


def _t0_day(subject: Subject) -> date:
    return _local_date(subject, subject.randomized_at)


def _dm_write(instance, user, reason: str, previous=None):
    """Data-management guard around one CRF save (datamanagement.services.crf_write): lock
    check, reason for change, the edit checks (soft ones open queries), SDV and signature
    upkeep. Its refusals are the shared core.exceptions types the form views show.
    `previous`: the values of the row this service has already locked and read."""
    from datamanagement.services import crf_write

    if previous is None:
        return crf_write(instance=instance, user=user, reason=reason)
    return crf_write(instance=instance, user=user, reason=reason, previous=previous)


def _crf_save(
    *,
    model: type[models.Model],
    subject: Subject,
    user,
    data: Mapping[str, Any],
    version: int | None,
    reason: str = "",
    pk: int | None = None,
    derive: Callable[[Subject, models.Model], None] | None = None,
) -> models.Model:
    """Create or update one CRF row of `subject` (inside the caller's durable transaction).

    Race prevented: two users saving the same form at once. The row is locked FOR NO KEY
    UPDATE and its version compared with the one the user read; the second writer gets
    StaleVersion (both versions shown), never a silent overwrite. Two first saves at once
    collide on the UNIQUE subject key (one-to-one forms) and the loser gets StaleVersion too.

    The form's hard and soft checks (followup.checks, declared in its registry entry) and the
    bounds of every value run in the write guard (crf_write), on this path and every other.
    """
    data = dict(data)
    lookup = {"pk": pk, "subject": subject} if pk is not None else {"subject": subject}
    repeating = pk is not None or model in (AdverseEvent, ProtocolDeviation)
    instance = None
    if pk is not None or not repeating:
        # (at most one row: the primary key, or the subject of a one-to-one form; no ORDER BY)
        instance = next(iter(model.objects.select_for_update(no_key=True).filter(**lookup).order_by()[:1]), None)
        if pk is not None and instance is None:
            raise NotPermitted("This record does not belong to the subject.")
    if instance is not None and version != instance.version:
        raise StaleVersion(current=instance, expected=version)
    if instance is None and version:
        # The user edited a saved form that no longer matches (should not happen: no delete).
        raise StaleVersion(current=None, expected=version)
    if instance is not None and not reason.strip():
        raise ReasonRequired()
    previous = None
    if instance is None:
        instance = model(subject=subject, created_by=user)
    else:
        instance.subject = subject  # the caller's subject (its site loaded): no query for it
        previous = _values_before(instance)
    for name, value in data.items():
        setattr(instance, name, value)
    if derive is not None:
        derive(subject, instance)
    instance.updated_by = user
    with change_reason(reason or "initial entry"), _dm_write(instance, user, reason or "initial entry", previous):
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


def _values_before(instance) -> dict[str, Any]:
    from datamanagement.crfs import values_of

    return values_of(instance)


def _nihss_totals(model):
    def derive(subject, instance):
        values = {f.name: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
        for prefix in NIHSS_PREFIXES[model]:
            setattr(instance, f"{prefix}_total", nihss.total(values, prefix))
    return derive


# --- V1 procedure -----------------------------------------------------------------------------


@durable
def procedure_save(*, subject: Subject, user, data: Mapping[str, Any], passes: list[Mapping[str, Any]],
                   version: int | None, reason: str = "") -> Procedure:
    """V1: the procedure form and its passes after randomization (positions 1..n)."""
    _require_entry(user, subject, reveals_arm=True)
    procedure = _crf_save(model=Procedure, subject=subject, user=user, data=data, version=version,
                          reason=reason)
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
                try:
                    with _dm_write(row, user, reason or "initial entry"):
                        row.save()
                except HardCheckFailed as exc:  # name the pass the refusal is about
                    raise HardCheckFailed({f"pass {position} {k}": v for k, v in exc.errors.items()}) from exc
    return procedure


# --- V2, V3, V4 -------------------------------------------------------------------------------


@durable
def visit24h_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                  reason: str = "") -> Visit24h:
    _require_entry(user, subject)
    return _crf_save(model=Visit24h, subject=subject, user=user, data=data, version=version,
                     reason=reason, derive=_nihss_totals(Visit24h))


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
    values = {f.name: getattr(v3, f.attname) for f in v3._meta.concrete_fields}
    v3.nihss_item_changes = nihss.item_changes(values, before="before", at="worse")
    results = sich.derive_all(sich_input(subject, v3, baseline_nihss(subject)))
    v3.sich_heidelberg = results[sich.HEIDELBERG].sich
    v3.sich_ecass3 = results[sich.ECASS3].sich
    v3.sich_sits_most = results[sich.SITS_MOST].sich
    v3.sich_reasoning = {k: r.text for k, r in results.items()}


@durable
def visit48h_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                  reason: str = "") -> Visit48h:
    _require_entry(user, subject)
    row = _crf_save(model=Visit48h, subject=subject, user=user, data=data, version=version,
                    reason=reason, derive=_derive_v3)
    if row.died:
        _death_effects(subject, user, died_on=None, where="48-hour form")
    return row


@durable
def visit7d_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
                 reason: str = "") -> Visit7d:
    _require_entry(user, subject)
    row = _crf_save(model=Visit7d, subject=subject, user=user, data=data, version=version,
                    reason=reason, derive=_nihss_totals(Visit7d))
    if row.destination == "died":
        _death_effects(subject, user, died_on=row.discharge_on or row.assessed_on, where="day-7 form")
    return row


# --- V5 day 90 --------------------------------------------------------------------------------


def _derive_day90(subject: Subject, row: Day90) -> None:
    if row.assessed_on is not None:
        row.study_day = schedule.day_number(subject.randomized_at, subject.site.tz, row.assessed_on)
        rule = P.VISIT_RULES["V5"]
        # Soft check (SPEC §8, followup.checks.V5): outside the window is saved with a warning
        # and a query, not refused; the flag is kept on the row for the reports.
        row.outside_window = not (rule.first <= row.study_day <= rule.last)


@durable
def day90_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None,
               reason: str = "") -> Day90:
    """V5: the primary endpoint, by the blinded assessor (who is recorded as the assessor)."""
    _require_entry(user, subject, day90=True)
    data = {**data, "assessor": user, "source": Day90Source.ASSESSMENT}
    row = _crf_save(model=Day90, subject=subject, user=user, data=data, version=version,
                    reason=reason, derive=_derive_day90)
    if row.mrs == P.MRS_DEAD:
        # SPEC §6: mRS 6 is death. The assessor's day-90 mRS 6 (its date of death is required
        # by the form's hard check) records the death event: the subject is dead and reminders
        # stop; without a death form the soft check MRS6_NO_DEATH_RECORD queries the site for it.
        _death_status(subject, user, where="day-90 form (mRS 6)", died_on=row.death_on)
    return row


# --- Events -----------------------------------------------------------------------------------


@durable
def adverse_event_save(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                       pk: int | None = None, reason: str = "") -> AdverseEvent:
    _require_entry(user, subject)
    row = _crf_save(model=AdverseEvent, subject=subject, user=user, data=data, version=version,
                    reason=reason, pk=pk)
    if row.outcome == "fatal":
        _death_effects(subject, user, died_on=row.resolved_on, where=f"fatal adverse event {row.term}")
    return row


@durable
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


def _death_status(subject: Subject, user, *, where: str, died_on=None) -> None:
    """The subject is dead from now on (reminders stop); the status change is audited."""
    if subject.status == SubjectStatus.DEAD:
        return
    _subject_status_set(subject, SubjectStatus.DEAD)
    audit_event_record(action=AuditAction.OTHER, actor=user, site=subject.site, obj=subject,
                       summary=f"Subject {subject.number} dead: death recorded on the {where}"
                               + (f", died on {died_on}" if died_on else ""))


def _death_effects(subject: Subject, user, *, died_on, where: str) -> None:
    """SPEC §6: a death recorded anywhere (death form, fatal adverse event, V3 "died",
    V4 destination "died") makes the subject dead, stops reminders and sets the day-90 mRS
    to 6 (with the date of death when known)."""
    _death_status(subject, user, where=where, died_on=died_on)
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
            day90.source = Day90Source.DEATH
            day90.death_on = died_on or day90.death_on
            day90.version += 1
            day90.updated_by = user
            with _dm_write(day90, user, why):
                day90.save()


@durable
def death_record(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                 reason: str = "") -> Death:
    """Record a death: day-90 mRS becomes 6, the subject is dead, reminders stop."""
    _require_entry(user, subject)
    death = _crf_save(model=Death, subject=subject, user=user, data=data, version=version,
                      reason=reason)
    _death_effects(subject, user, died_on=death.died_on, where="death form")
    return death


@durable
def study_exit_record(*, subject: Subject, user, data: Mapping[str, Any], version: int | None = None,
                      reason: str = "") -> StudyExit:
    """Withdrawal, lost to follow-up or end of study: the subject status follows, reminders stop."""
    _require_entry(user, subject)
    row = _crf_save(model=StudyExit, subject=subject, user=user, data=data, version=version,
                    reason=reason)
    if subject.status != SubjectStatus.DEAD:
        _subject_status_set(subject, {ExitKind.WITHDRAWN: SubjectStatus.WITHDRAWN,
                                      ExitKind.LOST: SubjectStatus.LOST,
                                      ExitKind.COMPLETED: SubjectStatus.COMPLETED}[row.kind])
    return row


# --- The forms' own save services as the registry calls them (core.crf: CRF.update/create) ---
# A correction through a query (datamanagement.services.crf_field_correct) calls these in its
# own transaction, with the form's current values plus the correction, so the form's derived
# values are recomputed and its checks run exactly as on the form page.

_NOT_ENTERED = {"id", "subject", "created_by", "updated_by", "version", "created_at", "updated_at"}


def _current(instance) -> dict[str, Any]:
    return {(f.attname if f.is_relation else f.name): getattr(instance, f.attname)
            for f in instance._meta.concrete_fields if f.editable and f.name not in _NOT_ENTERED}


def _passes_of(procedure: Procedure) -> list[dict[str, Any]]:
    return [{"technique": p.technique, "device": p.device, "at": p.at, "etici": p.etici}
            for p in ProcedurePass.objects.filter(procedure=procedure).order_by("position")]


def update_with(service, *, repeating: bool = False):
    def update(*, instance, user, data, reason):
        kwargs = {"pk": instance.pk} if repeating else {}
        return service.inner(subject=instance.subject, user=user, data={**_current(instance), **data},
                             version=instance.version, reason=reason, **kwargs)

    return update


def procedure_update(*, instance, user, data, reason):
    return procedure_save.inner(subject=instance.subject, user=user, data={**_current(instance), **data},
                                passes=_passes_of(instance), version=instance.version, reason=reason)


def procedure_pass_update(*, instance, user, data, reason):
    procedure = instance.procedure
    passes = _passes_of(procedure)
    passes[instance.position - 1] = {**passes[instance.position - 1], **data}
    procedure_save.inner(subject=procedure.subject, user=user, data=_current(procedure), passes=passes,
                         version=procedure.version, reason=reason)
    return ProcedurePass.objects.get(pk=instance.pk)


def deviation_create(*, subject: Subject, user, data, reason: str) -> ProtocolDeviation:
    """A deviation filed by the system (an edit check detected it), in the caller's transaction."""
    return _crf_save(model=ProtocolDeviation, subject=subject, user=user, data=data, version=None, reason=reason)
