"""Reads of the follow-up app. Every function takes the user and applies site scope and
blinding through core.access; the arm only through randomization.selectors.

The blinded outcome assessor sees subject numbers and day-90 windows and opens the day-90
form only (SPEC §2); blinded data managers and administrators never open the procedure form,
which reveals the arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import access, blinding
from core import crf as registry
from core.models import Subject, SubjectStatus
from core.roles import Action
from followup import schedule
from followup.models import (
    AdverseEvent,
    ProtocolDeviation,
)
from randomization.selectors import arms_for_subjects, subject_arm


def _related_name(crf: registry.CRF) -> str:
    """The subject's accessor of a one-row-per-subject form (Subject.day90 ...), from the model."""
    return crf.model._meta.get_field(crf.subject_field).related_query_name()


def visit_forms() -> list[registry.CRF]:
    """The casebook's visit forms V1–V5, from the registry (core.crf)."""
    return registry.visit_pages()


def form_of_page(code: str) -> registry.CRF:
    try:
        return registry.by_page(code)
    except KeyError:
        raise Http404 from None


EDIT, VIEW = "edit", "view"


def _site_ids(user, *actions: str) -> set[int] | None:
    """Union of the sites where the user may do any of `actions` (None: all sites)."""
    ids: set[int] = set()
    for action in actions:
        allowed = access.sites_for(user, action)
        if allowed is None:
            if access.can(user, action):
                return None
            continue
        ids |= allowed
    return ids


def subjects_for(user) -> QuerySet[Subject]:
    """Subjects of the sites where the user may read or enter any follow-up form."""
    ids = _site_ids(user, Action.VIEW_CRF, Action.ENTER_CRF, Action.ENTER_DAY90)
    qs = Subject.objects.select_related("site")
    return qs if ids is None else qs.filter(site_id__in=ids)


def day90_only(user, site_id: int) -> bool:
    """The assessor's view of a site: subject numbers and the day-90 form, nothing else."""
    return not (access.can(user, Action.VIEW_CRF, site_id) or access.can(user, Action.ENTER_CRF, site_id))


def form_access(user, subject: Subject, code: str) -> str | None:
    """EDIT, VIEW or None for one form of one subject."""
    site_id = subject.site_id
    if code == "V5":
        if access.can(user, Action.ENTER_DAY90, site_id):
            return EDIT
        return VIEW if access.can(user, Action.VIEW_CRF, site_id) or access.can(user, Action.ENTER_CRF, site_id) \
            else None
    if not blinding.sees_form(user, page=code, site=site_id):
        return None  # the procedure form reveals the arm
    if access.can(user, Action.ENTER_CRF, site_id):
        return EDIT
    if access.can(user, Action.VIEW_CRF, site_id):
        return VIEW
    return None


def subject_for(user, number: str) -> Subject:
    subject = subjects_for(user).filter(number=number).first()
    if subject is None:
        raise Http404
    return subject


def require_form(user, subject: Subject, code: str, *, edit: bool = False) -> str:
    level = form_access(user, subject, code)
    if level is None or (edit and level != EDIT):
        raise PermissionDenied("You may not open this form for this subject.")
    return level


def arm_for(user, subject: Subject) -> str | None:
    """The arm, only where the blinding matrix allows (randomization.selectors decides)."""
    return subject_arm(user=user, subject=subject)


def arms_for(user, subjects) -> dict[int, str]:
    return arms_for_subjects(user=user, subjects=subjects)


@dataclass
class TimelineRow:
    code: str
    label: str
    window: schedule.Window | None
    status: str
    record: object | None
    access: str | None
    is_event: bool = False


@dataclass
class Casebook:
    subject: Subject
    arm: str | None
    day90_only: bool
    rows: list[TimelineRow]
    adverse_events: list = field(default_factory=list)
    deviations: list = field(default_factory=list)
    death: object | None = None
    study_exit: object | None = None
    can_enter_events: bool = False
    can_view_events: bool = False
    screening_id: int | None = None  # V0: the screening CRF that led to the randomization


def _entered(record) -> bool:
    return record is not None


def casebook(user, number: str, now: datetime | None = None) -> Casebook:
    """The subject page: a constant number of queries whatever the number of events."""
    now = now or timezone.now()
    subject = subject_for(user, number)  # site scope; 404 outside it
    limited = day90_only(user, subject.site_id)
    forms = {c.page: c for c in visit_forms()}
    codes = ["V5"] if limited else [c for c in forms if form_access(user, subject, c)]
    related = [_related_name(forms[c]) for c in codes]
    if not limited:
        related += ["death", "study_exit"]
    # One query for the subject and every one-to-one form the user may see.
    subject = Subject.objects.select_related("site", *related).get(pk=subject.pk)
    tz = subject.site.tz
    windows = {w.code: w for w in schedule.visit_windows(subject.randomized_at, tz)}
    windows["V1"] = schedule.procedure_window(subject.randomized_at, tz)
    off_study = subject.status != SubjectStatus.ON_STUDY
    rows = []
    if not limited:
        rows.append(TimelineRow("V0", _("Baseline / screening"), None, schedule.Status.COMPLETE, None, None))
    for code in codes:
        attr, label = _related_name(forms[code]), forms[code].title
        record = getattr(subject, attr, None) if hasattr(subject, attr) else None
        status = schedule.window_status(windows[code], now, _entered(record))
        if off_study and status not in (schedule.Status.COMPLETE,):
            status = "off_study"
        rows.append(TimelineRow(code, label, windows[code], status, record, form_access(user, subject, code)))
    book = Casebook(subject=subject, arm=None if limited else arm_for(user, subject),
                    day90_only=limited, rows=rows)
    if not limited:
        from randomization.models import Allocation

        book.screening_id = Allocation.objects.filter(subject_id=subject.pk).values_list(
            "screening_id", flat=True).first()
        book.can_enter_events = access.can(user, Action.ENTER_CRF, subject.site_id)
        book.can_view_events = True
        book.adverse_events = list(AdverseEvent.objects.filter(subject=subject).order_by("onset_on", "id"))
        book.deviations = list(ProtocolDeviation.objects.filter(subject=subject).order_by("occurred_on", "id"))
        book.death = getattr(subject, "death", None) if hasattr(subject, "death") else None
        book.study_exit = getattr(subject, "study_exit", None) if hasattr(subject, "study_exit") else None
    return book


@dataclass
class DueItem:
    subject: Subject
    code: str
    label: str
    window: schedule.Window
    status: str


def _entered_annotations() -> dict:
    return {f"has_{crf.page.lower()}": Exists(crf.model.objects.filter(**{crf.subject_field: OuterRef("pk")}))
            for crf in visit_forms()}


def subject_rows(user, *, now: datetime | None = None, search: str = "",
                 qs: QuerySet[Subject] | None = None) -> QuerySet[Subject]:
    """The subjects list: each row annotated with which visits are entered (one query)."""
    qs = subjects_for(user) if qs is None else qs
    if search:
        qs = qs.filter(number__icontains=search.strip())
    return qs.annotate(**_entered_annotations()).order_by("-randomized_at", "number")


def visit_states(user, subject: Subject, now: datetime) -> list[DueItem]:
    """Window and status of each visit the user may see (subject annotated by subject_rows)."""
    titles = {c.page: c.title for c in visit_forms()}
    codes = ["V5"] if day90_only(user, subject.site_id) else [
        c for c in titles if blinding.sees_form(user, page=c, site=subject.site_id)]
    tz = subject.site.tz
    windows = {w.code: w for w in schedule.visit_windows(subject.randomized_at, tz)}
    windows["V1"] = schedule.procedure_window(subject.randomized_at, tz)
    items = []
    for code in codes:
        entered = bool(getattr(subject, f"has_{code.lower()}", False))
        status = schedule.window_status(windows[code], now, entered)
        items.append(DueItem(subject, code, titles[code], windows[code], status))
    return items


def due_lists(user, now: datetime | None = None) -> tuple[list[DueItem], list[DueItem]]:
    """("due this week", "overdue") for the user's sites: on-study subjects whose windows are
    not over, visits not entered. A constant number of queries."""
    now = now or timezone.now()
    horizon = now - timedelta(days=100)
    qs = subject_rows(user, qs=subjects_for(user).filter(status=SubjectStatus.ON_STUDY,
                                                         randomized_at__gte=horizon))
    week = now + timedelta(days=7)
    due, overdue = [], []
    for subject in qs:
        for item in visit_states(user, subject, now):
            if item.status == schedule.Status.OVERDUE:
                overdue.append(item)
            elif item.status in (schedule.Status.OPEN, schedule.Status.DUE) or (
                    item.status == schedule.Status.NOT_YET_OPEN and item.window.opens < week):
                due.append(item)
    due.sort(key=lambda i: i.window.target)
    overdue.sort(key=lambda i: i.window.closes)
    return due, overdue


def blinding_breaches(subject: Subject) -> list:
    """Breach reports naming this subject, for the day-90 form (they carry no arm)."""
    from randomization.selectors import breaches_for_subject

    return list(breaches_for_subject(subject=subject))
