"""Writes of the randomization app: allocation lists, the trial configuration,
randomizing a confirmed screening, blinding-breach reports and notifications."""

from __future__ import annotations

import json
import random
from datetime import datetime
from decimal import Decimal

import pghistory
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record, current_audit_context
from core import access, i18n
from core.models import Site, Subject, SubjectStatus, User
from core.roles import Action, Role
from core.services import (
    notification_create,
    notification_email_claim,
    notification_email_done,
    notification_email_release,
)
from eligibility.models import Consent, Screening, ScreeningOutcome, VerdictStatus
from eligibility.services import screening_mark_randomized
from randomization import blocks, minimisation
from randomization import sql as randomization_sql
from randomization.exceptions import (
    AllocationListError,
    AllocationListExhausted,
    AlreadyRandomized,
    BreachReportError,
    DataIsLocked,
    NoConsent,
    NotConfirmed,
    NotEligible,
    NotPermitted,
    RandomizationError,
)
from randomization.models import (
    Allocation,
    AllocationEntry,
    AllocationList,
    BlindingBreach,
    ListSource,
    Method,
    TrialConfig,
)

# Minimisation draws come from the operating system's generator: unpredictable, so the
# random element really conceals the next allocation.
_SYSTEM_RNG = random.SystemRandom()
_ENTRY_BATCH = 2000


# --- Allocation lists (statistician only) ------------------------------------------------------


def _require_statistician(user: User) -> None:
    if not access.can(user, Action.ALLOCATION_LIST):
        raise NotPermitted("Only the unblinded statistician may manage allocation lists.")


def _store_list(*, user: User, name: str, source: str, seed: str, parameters: dict,
                entries: list[blocks.Entry]) -> AllocationList:
    sha = blocks.fingerprint(entries)
    sizes: dict[str, int] = {}
    for e in entries:
        sizes[e.stratum] = sizes.get(e.stratum, 0) + 1
    # The first list becomes the one in use; later ones are activated explicitly.
    first = not AllocationList.objects.filter(active=True).exists()
    allocation_list = AllocationList.objects.create(
        name=name or f"{source} {timezone.now():%Y-%m-%d %H:%M}", source=source, seed=seed,
        parameters=parameters, sha256=sha, active=first, created_by=user)
    AllocationEntry.objects.bulk_create(
        [AllocationEntry(list=allocation_list, stratum=e.stratum, sequence=e.sequence, block=e.block,
                         block_size=e.block_size, arm=e.arm, stratum_size=sizes[e.stratum]) for e in entries],
        batch_size=_ENTRY_BATCH)
    strata = sorted({e.stratum for e in entries})
    audit_event_record(
        action=AuditAction.ALLOCATION_LIST, actor=user, obj=allocation_list,
        summary=f"Allocation list {allocation_list.pk} {source}: {len(entries)} entries in {len(strata)} strata",
        detail={"sha256": sha, "seed": seed, "parameters": parameters, "active": first},
        reveals_allocation=True)
    return allocation_list


@transaction.atomic(durable=True)
def allocation_list_generate(*, user: User, seed: str, entries_per_stratum: int,
                             site_codes: list[str] | None = None,
                             block_sizes: tuple[int, ...] = blocks.DEFAULT_BLOCK_SIZES,
                             name: str = "") -> AllocationList:
    """Generate a stratified permuted-block list from a documented seed (randomization.blocks)."""
    _require_statistician(user)
    seed = (seed or "").strip()
    if not seed:
        raise AllocationListError("Seed: a seed is required, so the list can be regenerated and checked.")
    codes = sorted(site_codes) if site_codes else list(
        Site.objects.filter(active=True).order_by("code").values_list("code", flat=True))
    unknown = sorted(set(codes) - set(Site.objects.filter(code__in=codes).values_list("code", flat=True)))
    if unknown:
        raise AllocationListError(f"Sites: unknown site code(s) {', '.join(unknown)}.")
    if not codes:
        raise AllocationListError("Sites: there is no active site to generate strata for.")
    try:
        entries = blocks.generate(seed, codes, entries_per_stratum, tuple(block_sizes))
    except ValueError as exc:
        raise AllocationListError(str(exc)) from None
    parameters = {
        "algorithm": blocks.ALGORITHM, "sites": codes, "circulations": list(blocks.CIRCULATIONS),
        "block_sizes": list(block_sizes), "entries_per_stratum": entries_per_stratum, "ratio": "1:1",
        "arms": list(blocks.ARMS),
    }
    return _store_list(user=user, name=name, source=ListSource.GENERATED, seed=seed,
                       parameters=parameters, entries=entries)


@transaction.atomic(durable=True)
def allocation_list_import(*, user: User, csv_text: str, name: str = "") -> AllocationList:
    """Import a list prepared elsewhere (format of blocks.to_csv; checked by blocks.parse_csv)."""
    _require_statistician(user)
    try:
        entries = blocks.parse_csv(csv_text)
    except blocks.ListFormatError as exc:
        raise AllocationListError(str(exc)) from None
    codes = sorted({e.stratum.split("-")[0] for e in entries})
    unknown = sorted(set(codes) - set(Site.objects.filter(code__in=codes).values_list("code", flat=True)))
    if unknown:
        raise AllocationListError(f"Stratum: unknown site code(s) {', '.join(unknown)} in the CSV.")
    parameters = {"sites": codes, "imported_rows": len(entries), "ratio": "as imported"}
    return _store_list(user=user, name=name, source=ListSource.IMPORTED, seed="",
                       parameters=parameters, entries=entries)


@transaction.atomic(durable=True)
def allocation_list_set_active(*, user: User, allocation_list: AllocationList, active: bool) -> AllocationList:
    """Put a list in use (its strata are served after those of older active lists) or take it out."""
    _require_statistician(user)
    AllocationList.objects.filter(pk=allocation_list.pk).update(active=active)
    allocation_list.refresh_from_db()
    audit_event_record(
        action=AuditAction.ALLOCATION_LIST, actor=user, obj=allocation_list,
        summary=f"Allocation list {allocation_list.pk} {'put in use' if active else 'taken out of use'}",
        reveals_allocation=True)
    return allocation_list


@transaction.atomic(durable=True)
def trial_config_update(*, user: User, method: str, minimisation_p: Decimal | float) -> TrialConfig:
    _require_statistician(user)
    if method not in Method.values:
        raise AllocationListError(f"Method: choose one of {', '.join(Method.values)}; found {method!r}.")
    p = Decimal(str(minimisation_p))
    if not Decimal("0.5") <= p <= Decimal("1.0"):
        raise AllocationListError(f"Random element: must be between 0.5 and 1.0; found {p}.")
    config = TrialConfig.objects.select_for_update(no_key=True).get_or_create(pk=1)[0]
    if method != config.method and Allocation.objects.exists():
        raise AllocationListError(
            "Method: the randomization method cannot change once subjects have been randomized.")
    old = (config.method, config.minimisation_p)
    config.method, config.minimisation_p, config.updated_by = method, p, user
    config.save()
    audit_event_record(action=AuditAction.ALLOCATION_LIST, actor=user, obj=config,
                       summary=f"Randomization method {old[0]} → {method}, random element {old[1]} → {p}",
                       reveals_allocation=True)
    return config


# --- Notifications ------------------------------------------------------------------------------


def statisticians() -> list[User]:
    return list(User.objects.filter(is_active=True, memberships__role=Role.STATISTICIAN,
                                    memberships__active=True).distinct())


# Notices of the statistician's allocation-list page (stratum supply, blinding breaches).
ALERT_KEY_PREFIXES = ("stratum-low:", "breach:")


def _alert_low_stratum(stratum: str, remaining: int, total: int) -> None:
    # Deferred texts: built in each recipient's language (core.i18n).
    if remaining == 0:
        def title():
            return _("Allocation list: stratum %(s)s is exhausted") % {"s": stratum}

        def body():
            return _("No unused entry is left in stratum %(s)s of the lists in use. Randomization in this "
                     "stratum is blocked until a list covering it is put in use.") % {"s": stratum}
    else:
        def title():
            return _("Allocation list: stratum %(s)s has %(n)s entries left") % {"s": stratum, "n": remaining}

        def body():
            return _("Stratum %(s)s has %(n)s unused entries left (of %(t)s). Prepare an extension list.") % {
                "s": stratum, "n": remaining, "t": total}
    # One alert per stratum and list size: an extension list (new total) can alert again.
    notification_create(users=statisticians(), key=f"stratum-low:{stratum}:{total}:{'empty' if remaining == 0 else 'low'}",
                        title=title, body=body, url="/randomization/lists/")


@transaction.atomic(durable=True)
def _alert_exhausted(stratum: str) -> None:
    total = AllocationEntry.objects.filter(list__active=True, stratum=stratum).count()
    _alert_low_stratum(stratum, 0, total)


# --- Randomizing ---------------------------------------------------------------------------------


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
            _alert_exhausted(exc.stratum)
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
        from datamanagement.exceptions import DataLocked
        from datamanagement.locks import assert_unlocked

        try:
            assert_unlocked(screening, subject=None)  # open screening: no subject exists yet
        except DataLocked as exc:
            raise DataIsLocked(_("Randomization is not possible now: %(reason)s") % {"reason": exc}) from exc
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
        _alert_low_stratum(stratum, supply["remaining"], supply["total"])


def allocation_confirmation_send(*, allocation_id: int) -> int:
    """After commit: tell the site's investigators (in-app and e-mail). The arm is written
    only into e-mails to recipients allowed to see it at that site (core.access.sees_arm_at)."""
    from django.core.mail import send_mail

    from core.templatetags.edc import site_time

    allocation = Allocation.objects.select_related("subject__site", "randomized_by").get(pk=allocation_id)
    subject = allocation.subject
    site = subject.site
    investigators = list(User.objects.filter(
        is_active=True, memberships__role=Role.INVESTIGATOR, memberships__site=site,
        memberships__active=True).distinct())
    when = site_time(allocation.randomized_at, site)

    # Deferred texts: built in each recipient's language (core.i18n).
    def title():
        return _("Subject %(n)s randomized at site %(s)s") % {"n": subject.number, "s": site.code}

    def body():
        return _("Subject %(n)s was randomized at %(when)s by %(who)s.") % {
            "n": subject.number, "when": when, "who": allocation.randomized_by}

    def arm_line():
        return _("Arm: %(arm)s (%(code)s).") % {"arm": allocation.get_arm_display(), "code": allocation.arm}
    with transaction.atomic():
        # The in-app notice never carries the arm (it is the same for every recipient).
        notes = notification_create(users=investigators, key=f"randomized:{allocation.pk}", title=title,
                                    body=body, url=f"/randomization/allocation/{allocation.pk}/",
                                    subject=subject, email_by_caller=True)
        # Each e-mail is claimed (queued → sending) in the creating transaction, before it is
        # sent: a re-run sends nothing twice and no other sender can mail these notices.
        claimed = notification_email_claim(ids=[n.pk for n in notes])
    sent = 0
    for note in claimed:
        recipient = note.user
        text = note.body
        if access.sees_arm_at(recipient, site):
            text += "\n" + i18n.text_for(recipient, arm_line)
        try:
            send_mail(note.title, text, None, [recipient.email])
        except OSError:
            notification_email_release(ids=[note.pk])  # the task's retry sends it
            raise
        notification_email_done(ids=[note.pk])
        sent += 1
    return sent


# --- Blinding breaches -----------------------------------------------------------------------


@transaction.atomic(durable=True)
def blinding_breach_report(*, user: User, site: Site, occurred_at: datetime, route: str, description: str,
                           subject: Subject | None = None, unblinded_user: User | None = None,
                           unblinded_person: str = "") -> BlindingBreach:
    # Anyone may report, for a site they belong to (all-site roles: any site).
    if not access.can(user, Action.BLINDING_BREACH) or not access.visible_sites(user).filter(pk=site.pk).exists():
        raise NotPermitted(f"You may not file a report for site {site.code}.")
    if unblinded_user is None and not unblinded_person.strip():
        raise BreachReportError("Who: name the person who may have been unblinded (an EDC user or a name).")
    if not description.strip():
        raise BreachReportError("What happened: describe how the arm may have become known.")
    if occurred_at > timezone.now():
        raise BreachReportError("When: the time it happened cannot be in the future.")
    if subject is not None and subject.site_id != site.pk:
        raise BreachReportError(f"Subject: {subject.number} is not a subject of site {site.code}.")
    breach = BlindingBreach.objects.create(
        site=site, subject=subject, unblinded_user=unblinded_user, unblinded_person=unblinded_person.strip(),
        occurred_at=occurred_at, route=route, description=description.strip(), reported_by=user)
    who = unblinded_user.username if unblinded_user else unblinded_person.strip()
    audit_event_record(
        action=AuditAction.BLINDING_BREACH, actor=user, site=site, obj=breach,
        summary=f"Blinding breach reported: {who}" + (f", subject {subject.number}" if subject else ""),
        detail={"route": route, "occurred_at": occurred_at.isoformat()})
    notification_create(users=statisticians(), key=f"breach:{breach.pk}",
                        title=lambda: _("Blinding breach reported at site %(s)s") % {"s": site.code},
                        body=lambda: _("Reported by %(by)s: %(who)s.") % {"by": user.username, "who": who},
                        url="/randomization/breaches/")
    return breach
