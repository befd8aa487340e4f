"""python manage.py generate_allocation_list --seed TEXT --user statistician [--per-stratum 60]
[--sites 001,002] [--name NAME] [--check-sha256 HEX]

Generates a stratified permuted-block list through the same service as the page (so it is
audited and refused for anyone but the statistician). It prints the SHA-256 but never the
list itself; the statistician downloads the list from the page if needed.
"""

from django.core.management.base import BaseCommand, CommandError

from core.models import User
from randomization import blocks
from randomization.exceptions import RandomizationError
from randomization.services import allocation_list_generate


class Command(BaseCommand):
    help = "Generate a stratified permuted-block allocation list from a documented seed."

    def add_arguments(self, parser):
        parser.add_argument("--seed", required=True)
        parser.add_argument("--user", required=True, help="user name of the unblinded statistician")
        parser.add_argument("--per-stratum", type=int, default=60)
        parser.add_argument("--sites", default="", help="comma-separated site codes (default: all active)")
        parser.add_argument("--block-sizes", default="2,4")
        parser.add_argument("--name", default="")
        parser.add_argument("--dry-run", action="store_true",
                            help="compute and print the SHA-256 only; store nothing")

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"No user {opts['user']!r}.")
        sites = [s.strip() for s in opts["sites"].split(",") if s.strip()] or None
        try:
            sizes = tuple(int(x) for x in opts["block_sizes"].split(","))
        except ValueError:
            raise CommandError("--block-sizes: comma-separated even numbers, e.g. 2,4") from None
        if opts["dry_run"]:
            from core import access
            from core.models import Site
            from core.roles import Action

            if not access.can(user, Action.ALLOCATION_LIST):
                raise CommandError("Only the unblinded statistician may generate allocation lists.")
            codes = sites or list(Site.objects.filter(active=True).values_list("code", flat=True))
            entries = blocks.generate(opts["seed"], codes, opts["per_stratum"], sizes)
            self.stdout.write(f"{len(entries)} entries; SHA-256 {blocks.fingerprint(entries)} (not stored)")
            return
        try:
            created = allocation_list_generate(user=user, seed=opts["seed"], entries_per_stratum=opts["per_stratum"],
                                               site_codes=sites, block_sizes=sizes, name=opts["name"])
        except RandomizationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"List {created.pk} stored ({'in use' if created.active else 'not in use'}); "
                          f"SHA-256 {created.sha256}")
