"""`seed_demo --subjects N`: N synthetic subjects through the real services (SPEC §10).

Each subject is screened (eligibility.services.screening_create), confirmed by the site's
investigator (screening_confirm) and randomized (the randomization service body, in its own
transaction, as subject_randomize runs it) — no shortcut writes. Idempotent: the target is N
subjects in total, so a second run with the same N creates nothing.

Synthetic randomization times are spread over the past months (newest last) so that follow-up
seeding can fill visits as far as elapsed time allows; this backdating is the one thing the
public subject_randomize never allows and is used only here. No confirmation e-mails are sent.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from core.models import Membership, Site, Subject, User
from core.roles import Role

DEMO_SEED = "ANGEL-RESCUE demo list"  # documented seed of the demo allocation lists
SPAN_DAYS = 200

NIHSS_TEMPLATES = [  # totals 14 and 21
    {"1a": 1, "1b": 1, "1c": 0, "2": 1, "3": 1, "4": 2, "5a": 3, "5b": 0, "6a": 2, "6b": 0,
     "7": 0, "8": 1, "9": 1, "10": 1, "11": 0},
    {"1a": 1, "1b": 2, "1c": 1, "2": 2, "3": 2, "4": 2, "5a": 4, "5b": 0, "6a": 3, "6b": 0,
     "7": 0, "8": 1, "9": 2, "10": 1, "11": 0},
]


def site_staff(site: Site, role: str) -> User:
    user = (User.objects.filter(memberships__site=site, memberships__role=role, memberships__active=True,
                                is_active=True).order_by("username").first())
    if user is not None:
        return user
    # A site without demo staff gets a sign-in-less seeding account, so it can hold subjects too.
    username = f"seed-{'coord' if role == Role.COORDINATOR else 'inv'}{site.code}"
    user, created = User.objects.get_or_create(username=username, defaults={"email": ""})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, role=role, site=site)
    return user


def _statistician() -> User:
    user = User.objects.filter(memberships__role=Role.STATISTICIAN, memberships__active=True).first()
    if user is None:
        raise RuntimeError("seed_subjects needs a statistician account (run seed_demo without --subjects first).")
    return user


def screening_data(rng: random.Random, at, posterior: bool) -> dict:
    """An eligible screening record of a patient treated at `at` (every time before it)."""
    female = rng.random() < 0.45
    return {
        "age_years": rng.randint(35, 88), "sex": "female" if female else "male", "prestroke_mrs": rng.choice([0, 0, 1]),
        "last_known_well": at - timedelta(hours=rng.randint(3, 20)), "arterial_puncture_at": at - timedelta(minutes=90),
        "nihss_items": dict(rng.choice(NIHSS_TEMPLATES)), "nihss_un_reason": "",
        "occlusion_site": rng.choice(["VA_V4", "BA"]) if posterior else rng.choice(["ICA_intracranial", "MCA_M1", "MCA_M1"]),
        "aspects": None if posterior else rng.randint(6, 10), "pc_aspects": rng.randint(6, 10) if posterior else None,
        "evt_intended": True,
        "passes": [{"technique": "contact_aspiration", "etici": "0"}, {"technique": "stent_retriever", "etici": "1"},
                   {"technique": "combined", "etici": rng.choice(["0", "1"])}],
        "consent": rng.choice(["patient", "legal_representative"]), "consent_at": at - timedelta(minutes=30),
        "ich_on_imaging": False, "fpct_major_hemorrhage": False, "gi_gu_bleeding_30d": False,
        "major_surgery_14d": False, "platelets": Decimal(rng.randint(120, 380)), "aptt": Decimal("31.0"),
        "inr": Decimal("1.04"), "doac_48h": False, "hit_history": False,
        "pregnant_or_lactating": False if female else None, "contrast_contraindication": False,
        "nickel_titanium_allergy": False, "life_expectancy_lt_6m": False, "confounding_neuro_psych": False,
        "gfr": Decimal(rng.randint(45, 120)), "creatinine": Decimal(rng.randint(50, 130)), "creatinine_unit": "umol/L",
        "lab_pending_attested": False, "tortuosity_prevents_delivery": False, "unlikely_90d_followup": False,
    }


def ensure_supply(statistician: User, demand: dict[str, int]) -> None:
    """Generate an extension list (through the real service) when the lists in use would run short."""
    from randomization.models import AllocationEntry, AllocationList
    from randomization.services import allocation_list_generate

    left = dict(AllocationEntry.objects.filter(list__active=True, used=False).values("stratum")
                .annotate(n=Count("id")).values_list("stratum", "n"))
    short = {s: need - left.get(s, 0) for s, need in demand.items() if need > left.get(s, 0)}
    if not short:
        return
    sites = sorted({s.split("-")[0] for s in short})
    k = AllocationList.objects.filter(seed__startswith=DEMO_SEED).count() + 1
    allocation_list_generate(user=statistician, seed=f"{DEMO_SEED} {k}", entries_per_stratum=max(short.values()) + 20,
                             site_codes=sites, name=f"Demo list {k}")
    if k > 1:  # later lists are not activated automatically
        from randomization.services import allocation_list_set_active

        newest = AllocationList.objects.filter(seed=f"{DEMO_SEED} {k}").first()
        allocation_list_set_active(user=statistician, allocation_list=newest, active=True)


def randomize_one(rng: random.Random, *, site: Site, coordinator: User, investigator: User, at, posterior: bool):
    """Screen, confirm and randomize one synthetic patient treated at `at` (in the past)."""
    from eligibility.services import screening_confirm, screening_create
    from randomization.services.randomizing import _subject_randomize_txn

    screening = screening_create(site=site, user=coordinator, data=screening_data(rng, at, posterior))
    screening = screening_confirm(screening=screening, user=investigator)
    allocation = _subject_randomize_txn(screening_id=screening.pk, user=coordinator, allow_existing=True,
                                        notify=False, now=at)
    return allocation.subject


def seed_subjects(n: int, stdout=None) -> int:
    """Create subjects until there are `n` in total; returns how many were created."""
    def say(text: str) -> None:
        if stdout is not None:
            stdout.write(text)

    existing = Subject.objects.count()
    todo = n - existing
    if todo <= 0:
        say(f"{existing} subjects already exist; nothing to add.")
        return 0
    sites = list(Site.objects.filter(active=True).order_by("code"))
    staff = {s.pk: (site_staff(s, Role.COORDINATOR), site_staff(s, Role.INVESTIGATOR)) for s in sites}
    statistician = _statistician()
    rng = random.Random(f"seed-subjects-{existing}-{n}")
    plan = []
    for k in range(todo):
        site = sites[(existing + k) % len(sites)]
        plan.append((site, rng.random() < 0.2))
    demand: dict[str, int] = {}
    for site, posterior in plan:
        key = f"{site.code}-{'posterior' if posterior else 'anterior'}"
        demand[key] = demand.get(key, 0) + 1
    ensure_supply(statistician, demand)

    started = time.monotonic()
    now = timezone.now().replace(second=0, microsecond=0)
    step = timedelta(days=SPAN_DAYS) / max(todo, 1)
    created = 0
    for k, (site, posterior) in enumerate(plan):
        coordinator, investigator = staff[site.pk]
        at = now - timedelta(days=SPAN_DAYS) + step * (k + 1) - timedelta(minutes=5)
        randomize_one(rng, site=site, coordinator=coordinator, investigator=investigator, at=at, posterior=posterior)
        created += 1
        if created % 1000 == 0:
            say(f"  {created}/{todo} subjects ({time.monotonic() - started:.0f} s)")
    elapsed = time.monotonic() - started
    say(f"Created {created} subjects through the real services in {elapsed:.1f} s "
        f"({created / elapsed if elapsed else 0:.0f}/s); {existing + created} in total.")
    return created


__all__ = ["seed_subjects", "randomize_one", "screening_data", "site_staff", "ensure_supply", "DEMO_SEED"]
