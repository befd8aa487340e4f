"""Reads of the randomization app. Every function takes the user and applies site scope and
the blinding matrix (core.access.sees_arm_at, from core.roles.SEES_ARM) — the only way the
rest of the system reads an arm."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet

from core import access
from core.models import Subject, User
from core.roles import Action
from eligibility.models import Consent, Screening, ScreeningOutcome, VerdictStatus
from randomization.models import (
    Allocation,
    AllocationEntry,
    AllocationList,
    BlindingBreach,
)


def subject_arm(*, user: User, subject: Subject) -> str | None:
    """The subject's arm code, or None when the user may not see it (or there is none)."""
    if not access.sees_arm_at(user, subject.site_id):
        return None
    return Allocation.objects.filter(subject_id=subject.pk).values_list("arm", flat=True).first()


def arms_for_subjects(*, user: User, subjects: Iterable[Subject]) -> dict[int, str]:
    """{subject id: arm code} for the subjects whose arm the user may see — one query; empty
    for blinded users (so a blinded page cannot even learn which subjects have an arm)."""
    if not access.sees_arm(user):
        return {}
    visible = [s.pk for s in subjects if access.sees_arm_at(user, s.site_id)]
    if not visible:
        return {}
    return dict(Allocation.objects.filter(subject_id__in=visible).values_list("subject_id", "arm"))


def allocation_for_user(*, user: User, allocation_id: int) -> tuple[Allocation, bool]:
    """An allocation's public facts (subject number, time, who) for someone who may read the
    site's data, and whether the arm may be shown. 404 for other sites and for the blinded."""
    allocation = (Allocation.objects.select_related("subject__site", "randomized_by", "screening")
                  .filter(pk=allocation_id).first())
    if allocation is None:
        from django.http import Http404

        raise Http404
    site_id = allocation.subject.site_id
    if not (access.can(user, Action.RANDOMIZE, site_id) or access.can(user, Action.VIEW_CRF, site_id)) \
            or not access.sees_arm(user):
        from django.http import Http404

        raise Http404
    return allocation, access.sees_arm_at(user, site_id)


def screenings_ready(*, user: User) -> QuerySet[Screening]:
    """Open, eligible, confirmed screenings with consent at the sites where the user randomizes."""
    qs = Screening.objects.filter(
        outcome=ScreeningOutcome.OPEN, verdict_status=VerdictStatus.ELIGIBLE, confirmed_at__isnull=False,
        consent__in=[Consent.PATIENT, Consent.LEGAL_REPRESENTATIVE],
    ).select_related("site", "confirmed_by").order_by("-confirmed_at")
    return access.scope(qs, user, Action.RANDOMIZE)


def screening_for_randomization(*, user: User, screening_id: int) -> Screening:
    screening = Screening.objects.select_related("site", "confirmed_by").filter(pk=screening_id).first()
    if screening is None:
        from django.http import Http404

        raise Http404
    access.object_site_or_404(user, Action.RANDOMIZE, screening.site_id)
    return screening


def allocation_of_screening(*, user: User, screening: Screening) -> Allocation | None:
    access.object_site_or_404(user, Action.RANDOMIZE, screening.site_id)
    return Allocation.objects.select_related("subject").filter(screening_id=screening.pk).first()


def recent_allocations(*, user: User, limit: int = 20) -> list[dict]:
    """Latest randomizations at the user's randomizing sites, arm only where visible."""
    qs = access.scope(Allocation.objects.all(), user, Action.RANDOMIZE, site_field="subject__site")
    rows = list(qs.select_related("subject__site", "randomized_by").order_by("-randomized_at")[:limit])
    return [{"allocation": a, "subject": a.subject, "arm": a.get_arm_display() if access.sees_arm_at(user, a.subject.site_id) else None}
            for a in rows]


# --- Allocation lists: the statistician only ------------------------------------------------


def _require_list_reader(user: User) -> None:
    access.require(user, Action.ALLOCATION_LIST)


def allocation_lists(*, user: User) -> QuerySet[AllocationList]:
    _require_list_reader(user)
    return AllocationList.objects.select_related("created_by").annotate(
        n_entries=Count("entries"), n_used=Count("entries", filter=Q(entries__used=True)))


def allocation_list_detail(*, user: User, list_id: int) -> AllocationList:
    _require_list_reader(user)
    from django.shortcuts import get_object_or_404

    return get_object_or_404(allocation_lists(user=user), pk=list_id)


def list_entries(*, user: User, allocation_list: AllocationList) -> QuerySet[AllocationEntry]:
    _require_list_reader(user)
    return AllocationEntry.objects.filter(list=allocation_list).order_by("stratum", "sequence")


def stratum_supply(*, user: User, allocation_list: AllocationList | None = None) -> list[dict]:
    """Per stratum: entries, used, remaining (of one list, or of all lists in use)."""
    _require_list_reader(user)
    qs = AllocationEntry.objects.filter(list=allocation_list) if allocation_list else \
        AllocationEntry.objects.filter(list__active=True)
    return list(qs.values("stratum").order_by("stratum").annotate(
        total=Count("id"), used_count=Count("id", filter=Q(used=True)),
        remaining=Count("id", filter=Q(used=False))))


def list_verify(*, user: User, allocation_list: AllocationList) -> bool:
    """Recompute the SHA-256 from the stored entries: True when it matches the recorded one."""
    from randomization import blocks

    entries = [blocks.Entry(e.stratum, e.sequence, e.block, e.block_size, e.arm)
               for e in list_entries(user=user, allocation_list=allocation_list)]
    return blocks.fingerprint(entries) == allocation_list.sha256


# --- Breaches ----------------------------------------------------------------


def breaches_for_user(*, user: User) -> QuerySet[BlindingBreach]:
    """Reports the user filed, plus all reports of sites where they read CRFs."""
    qs = BlindingBreach.objects.select_related("site", "subject", "unblinded_user", "reported_by")
    readable = access.scope(qs, user, Action.VIEW_CRF)
    return (qs.filter(reported_by=user) | readable).distinct().order_by("-reported_at")


def breaches_for_subject(*, subject: Subject) -> QuerySet[BlindingBreach]:
    """For the day-90 form: has any report named this subject? (no arm in a breach report)."""
    return BlindingBreach.objects.filter(subject=subject).select_related("unblinded_user")


# --- Why randomization is not possible (before anyone fills a form) ---------------------------


def supply_problems(*, user: User, site_id: int | None = None, circulation: str | None = None) -> list[dict]:
    """Strata at the user's randomizing sites (or one site / circulation) that have no entry
    left in the lists in use, each with why: "never" (no list in use was ever made for it) or
    "used_up" (lists in use covered it and every entry is used). Empty under minimisation (no
    list needed) and for users who do not randomize. Two queries; no arm, no count by arm."""
    from core.models import Site
    from randomization import blocks
    from randomization.models import Method, TrialConfig

    if not access.can(user, Action.RANDOMIZE):
        return []
    method = TrialConfig.objects.filter(pk=1).values_list("method", flat=True).first() or Method.BLOCKS
    if method == Method.MINIMISATION:
        return []
    sites = access.scope(Site.objects.filter(active=True), user, Action.RANDOMIZE, site_field="pk")
    if site_id is not None:
        sites = sites.filter(pk=site_id)
    codes = list(sites.order_by("code").values_list("code", flat=True))
    circulations = [circulation] if circulation else list(blocks.CIRCULATIONS)
    wanted = [f"{code}-{c}" for code in codes for c in circulations]
    supply = {row["stratum"]: row for row in AllocationEntry.objects.filter(list__active=True, stratum__in=wanted)
              .values("stratum").annotate(total=Count("id"), remaining=Count("id", filter=Q(used=False)))}
    problems = []
    for stratum in wanted:
        row = supply.get(stratum)
        if row is None or row["remaining"] == 0:
            site_code, circ = stratum.split("-", 1)
            problems.append({"stratum": stratum, "site": site_code, "circulation": circ,
                             "kind": "never" if row is None else "used_up"})
    return problems


# --- Simulations of the method (the statistician only) ----------------------------------------


def simulation_runs(*, user: User, limit: int = 20) -> list:
    """The latest simulations, newest first (one query)."""
    from randomization.models import SimulationRun

    _require_list_reader(user)
    return list(SimulationRun.objects.select_related("requested_by").defer("result")[:limit])


def simulation_run(*, user: User, run_id: int):
    from django.shortcuts import get_object_or_404

    from randomization.models import SimulationRun

    _require_list_reader(user)
    return get_object_or_404(SimulationRun.objects.select_related("requested_by"), pk=run_id)


def list_page_alerts(*, user: User, limit: int = 20) -> list:
    """The statistician's unread list alerts that still hold now. A stratum alert (key
    "stratum-low:<stratum>:<total>:<empty|low>", randomization.services.notices) is shown only
    while the lists in use still leave that stratum empty (or low): once a list covering it
    is put in use the banner goes, though the notice stays in the inbox. Two queries."""
    from core import selectors as core_selectors
    from randomization.models import TrialConfig
    from randomization.services.notices import ALERT_KEY_PREFIXES

    _require_list_reader(user)
    notes = list(core_selectors.notifications_for(user=user, unread_only=True,
                                                  key_prefixes=ALERT_KEY_PREFIXES)[:limit])
    strata = {n.key.split(":")[1] for n in notes if n.key.startswith("stratum-low:") and n.key.count(":") >= 3}
    if not strata:
        return notes
    threshold = TrialConfig.objects.filter(pk=1).values_list("low_stratum_threshold", flat=True).first()
    threshold = TrialConfig._meta.get_field("low_stratum_threshold").default if threshold is None else threshold
    remaining = dict(AllocationEntry.objects.filter(list__active=True, stratum__in=strata, used=False)
                     .values("stratum").annotate(n=Count("id")).values_list("stratum", "n"))
    shown = []
    for n in notes:
        if n.key.startswith("stratum-low:") and n.key.count(":") >= 3:
            _, stratum, _total, kind = n.key.split(":", 3)
            left = remaining.get(stratum, 0)
            if (kind == "empty" and left > 0) or (kind != "empty" and left >= threshold):
                continue  # resupplied since: the alert no longer holds
        shown.append(n)
    return shown
