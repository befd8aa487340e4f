"""`python manage.py audit_verify [--head HASH]`: recompute the audit chain (audit/chain.py).

Exit status 0 when the chain is intact, 1 with the first broken link named otherwise.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from audit.chain import verify_chain


class Command(BaseCommand):
    help = "Recompute the tamper-evident audit chain and name the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--head", help="a chain head hash from an earlier audit export or backup "
                                           "manifest that must still be part of the chain")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        result = verify_chain(expected_head=options.get("head"))
        if options["json"]:
            self.stdout.write(json.dumps({"ok": result.ok, "first_broken": result.first_broken,
                                          "links": result.links, "problems": result.problems,
                                          "head": result.head}))
        elif result.ok:
            self.stdout.write(f"Audit chain intact: {result.links} links, head {result.head.get('hash')} "
                              f"(link {result.head.get('link')}).")
        if not result.ok:
            lines = "\n".join(f"  - {p}" for p in result.problems)
            raise CommandError(f"Audit chain BROKEN at: {result.first_broken}\n{lines}")
