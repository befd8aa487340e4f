"""Reads of screenings, always through the user's site scope (core.access).

A screening of a site the user may not act on is simply not found (404), so its existence is
not leaked to other sites. Listing pages run a fixed number of queries whatever their size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Count, QuerySet
from django.http import Http404

from core import access
from core.roles import Action
from eligibility.models import Screening, ScreeningOutcome

VIEW_ACTIONS = (Action.SCREEN, Action.VIEW_CRF, Action.SCREENING_LOG)


def screening_list(*, user) -> QuerySet[Screening]:
    """Screenings the user may work on (coordinators and investigators of their sites)."""
    return access.scope(Screening.objects.select_related("site"), user, Action.SCREEN).order_by(
        "-created_at", "-id")


def screening_get(*, user, pk: int, action: str | None = None) -> Screening:
    """One screening the user may read (or do `action` on): 404 otherwise."""
    screening = Screening.objects.select_related("site", "created_by", "confirmed_by").filter(pk=pk).first()
    if screening is None:
        raise Http404
    actions = (action,) if action else VIEW_ACTIONS
    if not any(access.can(user, a, screening.site_id) for a in actions):
        raise Http404
    return screening


def screening_passes(screening: Screening) -> list:
    return list(screening.passes.filter(active=True).order_by("position"))


@dataclass(frozen=True)
class LogFilter:
    site_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    outcome: str | None = None


def screening_log(*, user, filters: LogFilter) -> QuerySet[Screening]:
    """The screening log rows the user may see (SCREENING_LOG scope), filtered. Dates are the
    screening's creation date in the active (site) time zone."""
    qs = access.scope(Screening.objects.select_related("site"), user, Action.SCREENING_LOG)
    if filters.site_id:
        qs = qs.filter(site_id=filters.site_id)
    if filters.date_from:
        qs = qs.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__date__lte=filters.date_to)
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    return qs.order_by("-created_at", "-id")


def screening_log_sites(*, user):
    """Sites to offer in the log's site filter."""
    from core.models import Site

    return access.scope(Site.objects.all(), user, Action.SCREENING_LOG, site_field="pk").order_by("code")


@dataclass(frozen=True)
class LogCounts:
    screened: int
    by_outcome: dict[str, int]
    by_status: dict[str, int]
    by_failed_criterion: list[tuple[str, int]]  # spec order, only codes that occur

    @property
    def not_randomized(self) -> int:
        return self.screened - self.by_outcome.get(ScreeningOutcome.RANDOMIZED, 0)


def screening_log_counts(qs: QuerySet[Screening]) -> LogCounts:
    """The first box of the CONSORT diagram, in three queries whatever the number of rows:
    counts by outcome, by verdict, and by failed criterion (a screening failing several
    criteria counts under each)."""
    from eligibility.rules import CODES

    base = qs.order_by()
    by_outcome = {row["outcome"]: row["n"] for row in base.values("outcome").annotate(n=Count("id"))}
    by_status = {row["verdict_status"]: row["n"] for row in base.values("verdict_status").annotate(n=Count("id"))}
    sql, params = base.values("verdict_failed").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT code, COUNT(*) FROM ({sql}) AS s(verdict_failed), "
            "jsonb_array_elements_text(s.verdict_failed) AS code GROUP BY code", params)
        raw = dict(cursor.fetchall())
    by_failed = [(code, raw[code]) for code in CODES if code in raw]
    return LogCounts(screened=sum(by_outcome.values()), by_outcome=by_outcome, by_status=by_status,
                     by_failed_criterion=by_failed)


def screening_log_per_site(qs: QuerySet[Screening]) -> list[dict]:
    """Per-site lines of the log (one query): screened, randomized, closed, still open."""
    from django.db.models import Q

    return list(
        qs.order_by().values("site__code", "site__name").annotate(
            screened=Count("id"),
            randomized=Count("id", filter=Q(outcome=ScreeningOutcome.RANDOMIZED)),
            open=Count("id", filter=Q(outcome=ScreeningOutcome.OPEN)),
            eligible=Count("id", filter=Q(verdict_status="eligible")),
            closed=Count("id", filter=~Q(outcome__in=[ScreeningOutcome.OPEN, ScreeningOutcome.RANDOMIZED])),
        ).order_by("site__code")
    )
