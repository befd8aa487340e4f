"""Demo data (SPEC §10): sites 001–003 and one account per role. Idempotent.

`--demo` seeds the living demo trial once (core.demo: allocation lists in use, subjects in
every state, queries, a signed and a locked casebook); `make run` uses it. `--subjects N`
creates synthetic subjects until there are N (screen → confirm → randomize → visits). Both
go through the real services with values the forms accept on the day they run, and both are
all-or-nothing: a failure leaves the database as it was.
"""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from core.demo import ACCOUNTS, SITES
from core.models import Membership, Site, User
from core.roles import Role


def demo_password() -> tuple[str, bool]:
    import os

    value = os.environ.get("DEMO_PASSWORD")
    if value:
        return value, False
    return "Demo-" + secrets.token_urlsafe(9), True


class Command(BaseCommand):
    help = "Create the demo sites and one user per role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--subjects", type=int, default=0,
                            help="Also create N synthetic subjects through the real services.")
        parser.add_argument("--demo", action="store_true",
                            help="Seed the living demo trial (once, on a database without subjects).")

    def handle(self, *args, **options):
        password, generated = demo_password()
        created_users = self.seed_people(password)
        if options["demo"]:
            from core.demo import seed_living_trial

            if not seed_living_trial(password=password, stdout=self.stdout):
                self.stdout.write("The demo trial has subjects already; nothing added.")
        if options["subjects"]:
            self.seed_subjects(options["subjects"])
        if created_users:
            self.stdout.write("Demo accounts: " + ", ".join(created_users))
            if generated:
                self.stdout.write(f"Demo password (generated): {password}")
            else:
                self.stdout.write("Demo password: the value of DEMO_PASSWORD")
        else:
            self.stdout.write("Demo accounts already exist; passwords unchanged.")

    @transaction.atomic
    def seed_people(self, password: str) -> list[str]:
        sites = {}
        for code, name, tz, target in SITES:
            site, _ = Site.objects.get_or_create(
                code=code, defaults={"name": name, "time_zone": tz, "enrollment_target": target}
            )
            sites[code] = site
        created = []
        for username, first, last, role, site_code in ACCOUNTS:
            user, was_created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last,
                          "email": f"{username}@example.org", "is_staff": role == Role.ADMIN},
            )
            if was_created:
                user.set_password(password)
                user.save(update_fields=["password"])
                created.append(username)
            site = sites[site_code] if site_code else None
            Membership.objects.get_or_create(user=user, role=role, site=site)
        return created

    def seed_subjects(self, count: int) -> None:
        from core.demo import all_or_nothing
        from core.models import Subject
        from followup.seeding import fill_visits
        from randomization.seeding import seed_subjects

        with all_or_nothing():
            seed_subjects(count, stdout=self.stdout)
            # Visits of every seeded subject, as far as elapsed time allows (idempotent).
            fill_visits(Subject.objects.all(), stdout=self.stdout)


