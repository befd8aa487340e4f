"""Randomizing a confirmed screening (SPEC §5, §10): the concurrency-safe hot path.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

import pghistory
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import current_audit_context
from core import access
from core.exceptions import DataLocked
from core.models import Site, Subject, SubjectStatus, User
from core.roles import Action
from eligibility.models import Consent, Screening, ScreeningOutcome, VerdictStatus
from eligibility.services import screening_mark_randomized
from randomization import blocks, minimisation
from randomization import sql as randomization_sql
from randomization.exceptions import (
    AllocationListExhausted,
    AlreadyRandomized,
    NoConsent,
    NotConfirmed,
    NotEligible,
    NotPermitted,
    RandomizationError,
)
from randomization.models import (
    Allocation,
    AllocationEntry,
    Method,
    TrialConfig,
)
from randomization.services.notices import alert_exhausted, alert_low_stratum

# Minimisation draws come from the operating system's generator: unpredictable, so the
# random element really conceals the next allocation.
_SYSTEM_RNG = random.SystemRandom()


def subject_randomize(*, screening: Screening, user: User, allow_existing: bool = True,
                      notify: bool = True) -> Allocation:
    """Randomize a confirmed screening (SPEC §5, §10) and return its Allocation.

    Idempotent: a double click or a retry for a screening that already has an allocation
    returns that allocation (`allocation.created` is False); with allow_existing=False it
    raises AlreadyRandomized instead. Raises NotPermitted, NotEligible, NotConfirmed,
    NoConsent, AllocationListExhausted with messages fit for the user. When the list is
    exhausted the statistician is alerted in a separate transaction (the randomization
    itself rolled back), then the error is raised.
    """
    try:
        return _subject_randomize_txn(screening_id=screening.pk, user=user, allow_existing=allow_existing,
                                      notify=notify, now=None)
    except AllocationListExhausted as exc:
        if getattr(exc, "stratum", None):
            alert_exhausted(exc.stratum)
        raise


@transaction.atomic(durable=True)
def _subject_randomize_txn(*, screening_id: int, user: User, allow_existing: bool, notify: bool,
                           now: datetime | None) -> Allocation:
    # pghistory context: the subject and screening row events name who randomized.
    with pghistory.context(user=user.pk, username=user.username):
        return randomize_locked(screening_id=screening_id, user=user, allow_existing=allow_existing,
                                notify=notify, now=now)


def randomize_locked(*, screening_id: int, user: User, allow_existing: bool = True, notify: bool = True,
                     now: datetime | None = None) -> Allocation:
    """The body of subject_randomize; must run inside the caller's transaction.

    `now` exists for seed_demo only (synthetic subjects randomized in the past); every
    user-facing path goes through subject_randomize, which always uses the current time.

    LOCKING POLICY — which rows, in which order, and why:
      1. The screening row (SELECT … FOR NO KEY UPDATE). Serializes every attempt to randomize
         the same screening: a double click, a retry after a timeout, two tablets. The second
         attempt waits here, then sees the committed allocation and returns it, so a screening
         can never get two allocations (backed by UNIQUE Allocation.screening).
      2a. Blocks: the next unused entry of the subject's stratum in the lists in use
         (SELECT … ORDER BY list, sequence LIMIT 1 FOR NO KEY UPDATE OF entry, skip_locked
         False). Two randomizations in one stratum queue on the same row; when the first
         commits, PostgreSQL re-checks `used = false` for the waiter, which moves on to the
         following entry. So no entry is used twice (backed by UNIQUE Allocation.entry) and
         none is skipped (SKIP LOCKED would hand out entry n+1 while n might still be
         released by a rollback, breaking the block order). Other strata are not blocked.
      2b. Minimisation: the TrialConfig row (FOR NO KEY UPDATE). The choice depends on every
         earlier allocation, so minimised randomizations are serialized trial-wide.
      3. The site's subject-number counter (its SiteCounter row, incremented by INSERT … ON
         CONFLICT DO UPDATE as core.services.site_next_number does), so numbers are gap-free
         and unique per site (UNIQUE Subject.number).
    Every randomization takes its locks in this order (screening → entry/config → site
    counter) and holds them only until commit, so there is no lock cycle and no deadlock.
    Work that needs no shared lock (checks, the screening's own update) is done before step 2.
    Steps 2a and 3 and every insert (subject, allocation, audit event) are ONE statement
    (_allocate_sql), so a stratum and a site are held for that statement and the commit only,
    never across a round trip to Python: under load this is what keeps the queue per stratum
    short (make bench: bench_randomization).
    """
    now = now or timezone.now()
    # One locking read gives everything the checks need: the screening (locked), its site,
    # whether a data lock covers it, and the trial configuration.
    locked_read = randomization_sql.screening_lock(screening_id)
    if locked_read is None:
        raise NotEligible(_("The screening does not exist."))
    screening, state = locked_read
    site = screening.site
    if not access.can(user, Action.RANDOMIZE, site.pk):
        raise NotPermitted(_("You may not randomize patients of site %(site)s: only its coordinators "
                             "and investigators may.") % {"site": site.code})

    # The outcome and the allocation are written in one transaction, so an open screening
    # has no allocation (UNIQUE Allocation.screening backs this). Look it up only for a
    # randomized one, in a statement of its own: when this read waited for another
    # randomization of the same screening, the locked row is the committed one but the
    # read's snapshot predates that commit and cannot see its allocation.
    if screening.outcome == ScreeningOutcome.RANDOMIZED:
        existing = Allocation.objects.select_related("subject").get(screening_id=screening.pk)
        if not allow_existing:
            raise AlreadyRandomized(
                _("Screening %(screening)s was already randomized as subject %(subject)s; a patient is "
                  "randomized once only.") % {"screening": screening.number, "subject": existing.subject.number},
                allocation=existing)
        existing.created = False
        return existing

    _check_ready(screening)
    if state["locked"]:
        # A locked screening form or database refuses the write in PostgreSQL; say so in words
        # before any row is touched instead of failing on the trigger.
        from datamanagement.locks import assert_unlocked

        try:
            assert_unlocked(screening, subject=None)  # open screening: no subject exists yet
        except DataLocked as exc:
            raise DataLocked(exc.lock, _("Randomization is not possible now: %(reason)s") % {"reason": exc}) from exc
    # The screening's own row (already locked) is updated before any shared lock is taken,
    # so its trigger-audited UPDATE does not lengthen the time a stratum is held.
    screening_mark_randomized(screening=screening)
    if state["method"] is None:  # no configuration saved yet: the defaults
        config = TrialConfig.current()
        method, minimisation_p, threshold = config.method, config.minimisation_p, config.low_stratum_threshold
    else:
        method, minimisation_p, threshold = state["method"], state["minimisation_p"], state["low_stratum_threshold"]
    stratum = blocks.stratum_of(site.code, screening.circulation)
    levels = minimisation.factor_levels(site=site.code, circulation=screening.circulation,
                                        nihss=screening.nihss_baseline, age=screening.age_years)
    arm = None
    detail: dict = {}
    if method == Method.MINIMISATION:
        TrialConfig.objects.select_for_update(no_key=True).filter(pk=1).first()
        choice = minimisation.choose(_minimisation_counts(levels), _SYSTEM_RNG, float(minimisation_p))
        arm = choice.arm
        detail = {"preferred": choice.preferred, "scores": choice.scores, "draw": round(choice.draw, 6),
                  "p": float(minimisation_p)}
    row = _allocate(screening=screening, site=site, user=user, stratum=stratum, arm=arm, levels=levels,
                    detail=detail, now=now)
    if row is None:
        exc = AllocationListExhausted(
            _("Randomization is not possible right now: no allocation is left for stratum %(stratum)s "
              "(site %(site)s, %(circulation)s circulation). The statistician has been alerted. Treat the "
              "patient per protocol and call the trial office.")
            % {"stratum": stratum, "site": site.code,
               "circulation": screening.get_circulation_display().lower()})
        exc.stratum = stratum
        raise exc
    allocation_id, subject_id, number, entry_id, arm, sequence, stratum_size = row
    subject = _loaded(Subject(pk=subject_id, number=number, site=site, randomized_at=now,
                              status=SubjectStatus.ON_STUDY, created_at=now))
    allocation = _loaded(Allocation(
        pk=allocation_id, screening=screening, subject=subject, entry_id=entry_id,
        method=Method.BLOCKS if entry_id is not None else Method.MINIMISATION, arm=arm, stratum=stratum,
        factors=levels, minimisation_detail=detail, randomized_at=now, randomized_by=user))
    # Counting what is left costs a query; it can only be below the threshold when this
    # entry is near the end of its stratum in its list (later lists only add supply).
    if entry_id is not None and stratum_size - sequence < threshold:
        _check_stratum_supply(stratum, threshold)
    if notify:

        def _confirm():
            from randomization.tasks import send_randomization_confirmation

            send_randomization_confirmation.delay(allocation_id)

        transaction.on_commit(_confirm, robust=True)
    allocation.created = True
    return allocation


def _loaded(instance):
    """Mark an instance built from a statement's RETURNING values as a saved row."""
    instance._state.adding, instance._state.db = False, "default"
    return instance


def _allocate(*, screening: Screening, site: Site, user: User, stratum: str, arm: str | None, levels: dict,
              detail: dict, now: datetime) -> tuple | None:
    """Take the stratum's next entry (blocks, arm None) or use the minimised arm; create the
    subject and its allocation and audit it. Returns (allocation id, subject id, subject number,
    entry id, arm, entry sequence, stratum size), or None when the stratum has no entry left."""
    context = current_audit_context()
    params = {
        "blocks": arm is None, "arm": arm, "stratum": stratum, "now": now, "at": timezone.now(),
        "site": site.pk, "site_code": site.code, "status": SubjectStatus.ON_STUDY,
        "screening": screening.pk, "user": user.pk, "username": user.username,
        "minimisation": Method.MINIMISATION, "blocks_name": Method.BLOCKS,
        "factors": json.dumps(levels), "detail": json.dumps(detail),
        "action": AuditAction.RANDOMIZED, "object_type": Allocation._meta.label,
        "summary": f"Screening {screening.number} randomized as subject ",
        "event_detail": json.dumps({"screening": screening.number, "stratum": stratum}),
        "ip": context.get("ip"), "request_id": context.get("request_id"),
    }
    return randomization_sql.allocate(params)


def screening_readiness_problem(screening: Screening) -> str | None:
    """Why this screening cannot be randomized now (for the screen, before the button is
    shown), or None. Advisory only: subject_randomize re-checks under the lock."""
    try:
        _check_ready(screening)
    except RandomizationError as exc:
        return str(exc)
    return None


def _check_ready(screening: Screening) -> None:
    if screening.outcome != ScreeningOutcome.OPEN:
        raise NotEligible(_("Screening %(n)s is closed (%(outcome)s); only an open screening can be "
                            "randomized.") % {"n": screening.number, "outcome": screening.get_outcome_display()})
    if screening.verdict_status != VerdictStatus.ELIGIBLE:
        reasons = ", ".join(screening.verdict_failed or []) or ", ".join(screening.verdict_missing or [])
        verdict = screening.get_verdict_status_display().lower() + (f" ({reasons})" if reasons else "")
        raise NotEligible(_("Screening %(n)s is not eligible: the verdict is %(verdict)s; it must be eligible.")
                          % {"n": screening.number, "verdict": verdict})
    if not screening.circulation:
        raise NotEligible(_("Screening %(n)s has no circulation (anterior/posterior); it is needed for the "
                            "stratum.") % {"n": screening.number})
    if screening.confirmed_at is None:
        raise NotConfirmed(_("Screening %(n)s is eligible but not yet confirmed by an investigator; an "
                             "investigator must confirm eligibility first.") % {"n": screening.number})
    if screening.consent not in (Consent.PATIENT, Consent.LEGAL_REPRESENTATIVE):
        found = screening.get_consent_display().lower() if screening.consent else _("not recorded")
        raise NoConsent(_("Screening %(n)s has no consent (found: %(found)s); consent by the patient or a "
                          "legal representative is required.") % {"n": screening.number, "found": found})


def _minimisation_counts(levels: dict[str, str]) -> dict[str, dict[str, int]]:
    """Arm counts of earlier minimised subjects at this subject's level of each factor (one query)."""
    aggregates = {}
    for factor in minimisation.FACTORS:
        for arm in blocks.ARMS:
            aggregates[f"{factor}__{arm}"] = Count(
                "id", filter=Q(arm=arm, **{f"factors__{factor}": levels[factor]}))
    row = Allocation.objects.filter(method=Method.MINIMISATION).aggregate(**aggregates)
    return {f: {a: row[f"{f}__{a}"] for a in blocks.ARMS} for f in minimisation.FACTORS}


def _check_stratum_supply(stratum: str, threshold: int) -> None:
    supply = AllocationEntry.objects.filter(list__active=True, stratum=stratum).aggregate(
        total=Count("id"), remaining=Count("id", filter=Q(used=False)))
    if supply["remaining"] < threshold:
        alert_low_stratum(stratum, supply["remaining"], supply["total"])
