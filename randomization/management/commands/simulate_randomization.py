"""python manage.py simulate_randomization --method {blocks,minimisation} --subjects 312 --sites 30 --runs 1000

Distribution of arm imbalance overall, per site and per stratum (randomization.simulation;
pure Python, no database), so the statistician can justify the method.
"""

import time

from django.core.management.base import BaseCommand

from randomization import simulation


class Command(BaseCommand):
    help = "Simulate the randomization method and report arm imbalance distributions."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--method", choices=["blocks", "minimisation", "both"], default="blocks")
        parser.add_argument("--subjects", type=int, default=312)
        parser.add_argument("--sites", type=int, default=30)
        parser.add_argument("--runs", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=20260101)
        parser.add_argument("--p", type=float, default=0.8, help="minimisation random element")

    def handle(self, *args, **opts):
        methods = ["blocks", "minimisation"] if opts["method"] == "both" else [opts["method"]]
        for method in methods:
            started = time.monotonic()
            result = simulation.simulate(method, opts["subjects"], opts["sites"], opts["runs"], opts["seed"], opts["p"])
            for line in simulation.report(result):
                self.stdout.write(line)
            self.stdout.write(f"  ({time.monotonic() - started:.1f} s)")
