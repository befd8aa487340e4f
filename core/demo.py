"""Demo sites and accounts (SPEC §10), importable without Django set up (the launcher
prints them), and the living demo trial that `make run` seeds (`seed_demo --demo`).

The living trial is written through the real services only (screening, confirmation,
randomization, visit forms, queries, SDV, signatures, locks), with values every form accepts
on the day it runs, and in ONE transaction: either the whole trial is there or nothing is.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from core.roles import Role

SITES = [
    ("001", "Beijing Tiantan Hospital", "Asia/Shanghai", 120),
    ("002", "Xuanwu Hospital", "Asia/Shanghai", 100),
    ("003", "West China Hospital", "Asia/Shanghai", 92),
]

# username, first name, last name, role, site code (None = all sites)
ACCOUNTS = [
    ("coord001", "Li", "Na", Role.COORDINATOR, "001"),
    ("inv001", "Wang", "Wei", Role.INVESTIGATOR, "001"),
    ("assessor001", "Zhang", "Min", Role.ASSESSOR, "001"),
    ("coord002", "Liu", "Yang", Role.COORDINATOR, "002"),
    ("inv002", "Chen", "Jie", Role.INVESTIGATOR, "002"),
    ("monitor", "Zhao", "Lei", Role.MONITOR, None),
    ("datamanager", "Sun", "Hui", Role.DATA_MANAGER, None),
    ("statistician", "Zhou", "Qiang", Role.STATISTICIAN, None),
    ("admin", "Wu", "Fang", Role.ADMIN, None),
    # Central review (adjudication app): readers outside the sites, blinded everywhere.
    ("corelab", "Huang", "Tao", Role.CORE_LAB_READER, None),
    ("adjudicator", "Xu", "Jing", Role.ADJUDICATOR, None),
    ("mrsrater", "Ma", "Lin", Role.MRS_RATER, None),
    ("steering", "Guo", "Ping", Role.STEERING, None),
]

# The living trial: per site, subjects randomized this long ago, and what became of them.
# "day90_open": V1–V4 entered, the day-90 window open (days 83–97) and not yet assessed.
# "imaging_due": 40 h after randomization, the 48-hour imaging visit is due.
TIMELINE = [
    (timedelta(days=165), "locked"),      # completed, signed by the investigator, then locked
    (timedelta(days=130), "signed"),      # completed and signed
    (timedelta(days=112), "completed"),
    (timedelta(days=101), "completed"),
    (timedelta(days=86), "day90_open"),
    (timedelta(days=84), "day90_open"),
    (timedelta(days=64), "withdrawn"),    # consent withdrawn on day 20
    (timedelta(days=47), "dead"),         # died on day 6
    (timedelta(days=30), "on_study"),
    (timedelta(days=12), "on_study"),
    (timedelta(days=5), "on_study"),
    (timedelta(hours=40), "imaging_due"),
    (timedelta(hours=6), "on_study"),
    (timedelta(minutes=20), "just_randomized"),
]
LIST_ENTRIES_PER_STRATUM = 60  # the demo list: enough for the trial and for trying it out
QUERY_TEXTS = [
    ("visit24h", "assessed_at", "Time of the 24-hour NIHSS differs from the nursing chart; please check the source."),
    ("procedure", "final_etici", "Final eTICI: the angiography report says 2b67; please verify."),
    ("visit7d", "mrs_discharge", "mRS at discharge: please confirm against the discharge letter."),
]


@contextmanager
def all_or_nothing():
    """One transaction around many durable services: seeding writes all of its data or none.

    Each service is `atomic(durable=True)` because in the application it must commit by
    itself; here the outer block lets them nest (as savepoints) — the same switch Django's
    TestCase uses — so a failure half-way rolls back everything seeded so far.
    """
    from django.db import DEFAULT_DB_ALIAS, transaction

    block = transaction.Atomic(DEFAULT_DB_ALIAS, savepoint=True, durable=False)
    block._from_testcase = True  # durable services may nest in this block only
    with block:
        yield


def _user(username: str):
    from core.models import User

    return User.objects.get(username=username)


def screen_failure_data(rng, at, reason: str) -> dict:
    """Screening data of a patient who is not randomized (intracranial haemorrhage on imaging,
    or recanalized / consent refused with an otherwise eligible record)."""
    from randomization.seeding import screening_data

    data = screening_data(rng, at, posterior=False)
    if reason == "ineligible":
        data["ich_on_imaging"] = True
    return data


def seed_living_trial(*, password: str, stdout=None) -> bool:
    """Seed the living trial once (returns False when subjects exist already)."""
    import random

    from django.utils import timezone

    from core.models import Site, Subject
    from datamanagement import services as dm
    from eligibility import services as eligibility
    from followup import services as followup
    from followup.models import Procedure, StudyExit, Visit7d, Visit24h
    from followup.seeding import fill_visits
    from randomization import seeding

    if Subject.objects.exists():
        return False
    rng = random.Random("ANGEL-RESCUE living demo")
    now = timezone.now().replace(second=0, microsecond=0)
    sites = list(Site.objects.filter(code__in=[s[0] for s in SITES]).order_by("code"))
    statistician, monitor, datamanager = _user("statistician"), _user("monitor"), _user("datamanager")
    say = stdout.write if stdout is not None else (lambda text: None)
    with all_or_nothing():
        seeding.ensure_supply(statistician, {f"{s.code}-{c}": LIST_ENTRIES_PER_STRATUM for s in sites
                                             for c in ("anterior", "posterior")})
        by_fate: dict[str, list] = {}
        for site in sites:
            coordinator = seeding.site_staff(site, Role.COORDINATOR)
            investigator = seeding.site_staff(site, Role.INVESTIGATOR)
            for k, (ago, fate) in enumerate(TIMELINE):
                at = now - ago
                subject = seeding.randomize_one(rng, site=site, coordinator=coordinator, investigator=investigator,
                                                at=at, posterior=k % 5 == 3)
                by_fate.setdefault(fate, []).append(subject)
            # Screen failures, with their reasons for the screening log.
            for reason, ago in (("ineligible", timedelta(days=40)), ("consent_refused", timedelta(days=18)),
                                ("recanalized", timedelta(days=3))):
                screening = eligibility.screening_create(site=site, user=coordinator,
                                                         data=screen_failure_data(rng, now - ago, reason))
                eligibility.screening_close(screening=screening, user=coordinator, reason=reason)
            # A screening in progress: eligible, waiting for the investigator's confirmation.
            eligibility.screening_create(site=site, user=coordinator,
                                         data=seeding.screening_data(rng, now - timedelta(minutes=25), False))
            # And one confirmed by the investigator, ready to randomize (on the angiography table now).
            ready = eligibility.screening_create(site=site, user=coordinator,
                                                 data=seeding.screening_data(rng, now - timedelta(minutes=8), False))
            eligibility.screening_confirm(screening=ready, user=investigator)

        for fate, subjects in by_fate.items():
            for subject in subjects:
                subject.refresh_from_db()
                t0 = subject.randomized_at
                if fate == "withdrawn":
                    fill_visits([subject], now=t0 + timedelta(days=20), deaths=False)
                    followup.study_exit_record(subject=subject, user=seeding.site_staff(subject.site, Role.INVESTIGATOR),
                                               data={"kind": "withdrawn", "exit_on": _local(subject, t0 + timedelta(days=20)),
                                                     "withdrawn_by": "patient", "data_use_permitted": True,
                                                     "details": "Patient withdrew consent at the day-20 phone call."})
                elif fate == "dead":
                    fill_visits([subject], now=t0 + timedelta(days=6), deaths=False)
                    followup.death_record(subject=subject, user=seeding.site_staff(subject.site, Role.COORDINATOR),
                                          data={"died_on": _local(subject, t0 + timedelta(days=6)),
                                                "cause": "neurological"})
                elif fate != "just_randomized":
                    fill_visits([subject], now=now, deaths=False)
                if fate in ("locked", "signed", "completed"):
                    subject.refresh_from_db()
                    if subject.status == "on_study":
                        followup.study_exit_record(
                            subject=subject, user=seeding.site_staff(subject.site, Role.INVESTIGATOR),
                            data={"kind": "completed", "exit_on": _local(subject, t0 + timedelta(days=97)),
                                  "withdrawn_by": "", "data_use_permitted": True, "details": ""})

        # Monitoring: source verification, open queries, a signed and a locked casebook.
        for fate in ("locked", "signed", "completed"):
            for subject in by_fate[fate]:
                for model in (Procedure, Visit24h):
                    row = model.objects.filter(subject=subject).first()
                    if row is not None:
                        dm.sdv_mark(user=monitor, instance=row)
        models = {"procedure": Procedure, "visit24h": Visit24h, "visit7d": Visit7d}
        for i, subject in enumerate(by_fate["on_study"][:6] + by_fate["day90_open"][:2]):
            form, field, text = QUERY_TEXTS[i % len(QUERY_TEXTS)]
            row = models[form].objects.filter(subject=subject).first()
            if row is not None:
                dm.query_open(user=monitor, instance=row, field_name=field, text=text)
        for subject in by_fate["locked"] + by_fate["signed"]:
            signer = seeding.site_staff(subject.site, Role.INVESTIGATOR)
            if signer.check_password(password):
                dm.signature_sign(user=signer, subject=subject, scope="casebook", password=password)
        for subject in by_fate["locked"]:
            dm.lock_subject(user=datamanager, subject=subject, reason="Casebook complete, signed and verified.")
        assert not StudyExit.objects.filter(subject__in=by_fate["just_randomized"]).exists()
    say(f"Living demo trial: {Subject.objects.count()} subjects at {len(sites)} sites.")
    return True


def _local(subject, instant):
    return instant.astimezone(subject.site.tz).date()
