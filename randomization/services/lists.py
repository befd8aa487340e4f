"""Allocation lists (statistician only) and the trial configuration (method, minimisation probability).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core.models import Site, User
from core.roles import Action
from randomization import blocks
from randomization.exceptions import (
    AllocationListError,
    NotPermitted,
)
from randomization.models import (
    Allocation,
    AllocationEntry,
    AllocationList,
    ListSource,
    Method,
    TrialConfig,
)

_ENTRY_BATCH = 2000


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
