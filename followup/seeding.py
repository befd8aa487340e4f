"""`seed_demo --subjects N`: fill the follow-up forms of seeded subjects through the real
services, as far as the time elapsed since each subject's randomization allows.

A visit is filled once its target time has passed (V1 at once, V2 after 24 h, V3 after 48 h,
V4 after day 7, V5 after day 90). About 4 % of subjects die during follow-up (death_record sets
the day-90 mRS to 6). Idempotent: forms that exist are left alone, so a second run adds only
what time has made due since. Values are synthetic and deterministic per subject number.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from core.models import Membership, Site, Subject, SubjectStatus, User
from core.roles import Role
from followup import nihss, schedule, services
from followup.models import Day90, Death, Procedure, Visit7d, Visit24h, Visit48h


def _staff(site: Site, role: str, cache: dict) -> User:
    key = (site.pk, role)
    if key not in cache:
        user = (User.objects.filter(memberships__site=site, memberships__role=role, memberships__active=True,
                                    is_active=True).order_by("username").first())
        if user is None:
            # A site without demo staff gets a sign-in-less seeding account (as randomization.seeding).
            user, created = User.objects.get_or_create(username=f"seed-{role}{site.code}", defaults={"email": ""})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(user=user, role=role, site=site)
        cache[key] = user
    return cache[key]


def _nihss(rng: random.Random, prefix: str, severity: float) -> dict:
    return {nihss.field_name(prefix, item): min(item.max, int(rng.random() * severity * (item.max + 1)))
            for item in nihss.ITEMS}


def _procedure(rng: random.Random, subject: Subject, arm: str | None) -> tuple[dict, list]:
    t0 = subject.randomized_at
    stenting = arm == "STENTING"
    data = {
        "first_reperfusion_at": t0 + timedelta(minutes=rng.randint(8, 35)),
        "procedure_end_at": t0 + timedelta(minutes=rng.randint(40, 75)),
        "final_etici": rng.choice(["2b50", "2b67", "2c", "3", "2a", "1"]),
        "angioplasty": stenting and rng.random() < 0.4, "stent": stenting,
        "stent_type": "balloon_expandable" if stenting else "",
        "stent_diameter_mm": 3 if stenting else None, "stent_length_mm": 15 if stenting else None,
        "antithrombotic": "tirofiban" if stenting else rng.choice(["none", "tirofiban"]),
        "antithrombotic_route": "ia" if stenting else "",
        "fpct_done": True, "fpct_new_hyperdensity": rng.random() < 0.2, "fpct_hemorrhage": rng.random() < 0.05,
        "vessel_perforation": False, "dissection": rng.random() < 0.03, "embolization_new_territory": False,
        "vasospasm": rng.random() < 0.1, "instent_thrombosis": False, "access_site_complication": False,
    }
    passes = [] if stenting else [
        {"technique": rng.choice(["stent_retriever", "combined", "contact_aspiration"]), "device": "",
         "at": t0 + timedelta(minutes=5 * (i + 1)), "etici": rng.choice(["1", "2a", "2b50", "2b67"])}
        for i in range(rng.randint(1, 2))]
    return data, passes


def fill_visits(subjects: Iterable[Subject], now: datetime | None = None, stdout=None, deaths: bool = True) -> int:
    """Fill the forms of `subjects` due by `now` (default: the present; never later); returns how
    many forms were saved. Every date and time written is at or before `now`, so the forms'
    "not in the future" checks accept them whatever the day and hour of the run. With
    deaths=False no subject dies (the living demo trial decides its deaths itself)."""
    from randomization.models import Allocation

    now = min(now or timezone.now(), timezone.now())
    subjects = list(Subject.objects.filter(pk__in=[s.pk for s in subjects]).select_related("site")
                    .order_by("randomized_at"))
    ids = [s.pk for s in subjects]
    arms = dict(Allocation.objects.filter(subject_id__in=ids).values_list("subject_id", "arm"))
    have = {model: set(model.objects.filter(subject_id__in=ids).values_list("subject_id", flat=True))
            for model in (Procedure, Visit24h, Visit48h, Visit7d, Day90, Death)}
    cache: dict = {}
    saved = 0
    for subject in subjects:
        if subject.status not in (SubjectStatus.ON_STUDY, SubjectStatus.COMPLETED):
            continue
        rng = random.Random(f"fill-{subject.number}")
        coordinator = _staff(subject.site, Role.COORDINATOR, cache)
        tz = subject.site.tz
        windows = {w.code: w for w in schedule.visit_windows(subject.randomized_at, tz)}
        elapsed = now - subject.randomized_at
        dies = rng.random() < 0.04 and deaths
        today = now.astimezone(tz).date()
        if subject.pk not in have[Procedure] and elapsed > timedelta(hours=2):
            data, passes = _procedure(rng, subject, arms.get(subject.pk))
            services.procedure_save(subject=subject, user=coordinator, data=data, passes=passes, version=None)
            saved += 1
        if subject.pk not in have[Visit24h] and now >= windows["V2"].target:
            services.visit24h_save(subject=subject, user=coordinator, version=None, data={
                "assessed_at": windows["V2"].target, **_nihss(rng, "nihss", 0.35)})
            saved += 1
        if subject.pk not in have[Visit48h] and now >= windows["V3"].target:
            services.visit48h_save(subject=subject, user=coordinator, version=None, data={
                "imaging_modality": "ct", "imaging_at": subject.randomized_at + timedelta(hours=rng.randint(22, 36)),
                "new_ich": rng.random() < 0.25, "worsening": False, "alternative_explanation": False})
            saved += 1
        if dies and subject.pk not in have[Death] and elapsed > timedelta(days=10):
            died_on = min((subject.randomized_at + timedelta(days=rng.randint(3, 9))).astimezone(tz).date(), today)
            services.death_record(subject=subject, user=coordinator, data={"died_on": died_on, "cause": "neurological"})
            saved += 1
            continue
        if subject.pk not in have[Visit7d] and now >= windows["V4"].target:
            services.visit7d_save(subject=subject, user=coordinator, version=None, data={
                "assessed_on": min(windows["V4"].target.astimezone(tz).date(), today), "discharged": False,
                **_nihss(rng, "nihss", 0.25), "mrs_discharge": rng.randint(1, 5), "destination": "rehabilitation"})
            saved += 1
        if subject.pk not in have[Day90] and now >= windows["V5"].target:
            assessor = _staff(subject.site, Role.ASSESSOR, cache)
            services.day90_save(subject=subject, user=assessor, version=None, data={
                "assessed_on": min((windows["V5"].target + timedelta(days=rng.randint(-3, 4))).astimezone(tz).date(), today),
                "mode": rng.choice(["in_person", "phone", "video"]), "respondent": rng.choice(["patient", "proxy"]),
                "blinded_attested": True, "mrs": rng.choice([0, 1, 2, 2, 3, 3, 4, 5]),
                **{f"eq5d_{d}": rng.randint(1, 4) for d in ("mobility", "self_care", "usual_activities", "pain",
                                                          "anxiety")},
                "eq5d_vas": rng.randint(30, 95)})
            saved += 1
    if stdout is not None:
        stdout.write(f"Follow-up: {saved} forms filled for {len(subjects)} subjects.")
    return saved
