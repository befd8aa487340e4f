"""Eligibility benchmarks (`.venv/bin/python -m bench eligibility`).

1. rules.evaluate() calls per second on a complete eligible screening and on an empty one,
   against a baseline in the same run: the same 19 threshold comparisons written as one bare
   function with no reasons (what the declarative, self-explaining engine costs).
2. The screening-log page's query count at 100 and at 5,000 screenings (must be equal), and its
   time at 5,000 as a ratio to 100 (rows are paginated; the counts are SQL aggregates).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal


def _rate(fn, arg, seconds=0.6) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn(arg)
        n += 200
    return n / elapsed


def _bare_checks(d) -> bool:
    """Baseline: the thresholds alone, no derivation reuse, no reasons, no missing-field list."""
    items = d["nihss_items"]
    nihss = sum(v for v in items.values() if v != "UN")
    passes = d["passes"]
    techniques = {p["technique"] for p in passes}
    return (
        d["age_years"] >= 18 and d["prestroke_mrs"] <= 1
        and d["arterial_puncture_at"] - d["last_known_well"] <= timedelta(hours=24)
        and nihss >= 6 and d["aspects"] >= 6 and d["occlusion_site"] in {"ICA_intracranial", "MCA_M1"}
        and d["evt_intended"] and 3 <= len(passes) <= 5 and "contact_aspiration" in techniques
        and bool(techniques & {"stent_retriever", "combined"}) and passes[-1]["etici"] in {"0", "1"}
        and d["consent"] in {"patient", "legal_representative"}
        and not (d["ich_on_imaging"] or d["fpct_major_hemorrhage"] or d["gi_gu_bleeding_30d"]
                 or d["major_surgery_14d"] or d["doac_48h"] or d["hit_history"]
                 or d["pregnant_or_lactating"] or d["contrast_contraindication"]
                 or d["nickel_titanium_allergy"] or d["life_expectancy_lt_6m"]
                 or d["confounding_neuro_psych"] or d["tortuosity_prevents_delivery"]
                 or d["unlikely_90d_followup"])
        and d["platelets"] >= 100 and d["aptt"] <= 50 and d["inr"] <= Decimal("2.0")
        and d["gfr"] >= 30 and d["creatinine"] <= 220
    )


def _bench_evaluate() -> list[str]:
    from eligibility.rules import evaluate
    from tests.factories import eligible_screening_data

    data = eligible_screening_data()
    assert evaluate(data).status == "eligible" and _bare_checks(data)
    baseline = _rate(_bare_checks, data)
    full = _rate(evaluate, data)
    empty = _rate(evaluate, {})
    return [
        f"evaluate(), complete eligible screening: {full:,.0f} calls/s "
        f"({1e6 / full:.0f} µs per call)",
        f"evaluate(), empty screening (all missing): {empty:,.0f} calls/s",
        f"baseline (bare threshold checks, no reasons): {baseline:,.0f} calls/s; "
        f"evaluate() costs {baseline / full:.0f}× the baseline",
    ]


def _bulk(site, user, start, n):
    from eligibility.models import Screening

    outcomes = ["open", "ineligible", "consent_refused", "randomized", "other"]
    failed = [[], ["IN1"], ["EX3", "EX8"], ["IN8"], ["IN5", "IN6"]]
    now = __import__("django.utils.timezone", fromlist=["now"]).now()
    rows = [
        Screening(site=site, created_by=user, number=f"{site.code}-S{start + i:04d}",
                  verdict_status="ineligible" if failed[i % 5] else "eligible",
                  verdict_failed=failed[i % 5], outcome=outcomes[i % 5],
                  closed_at=now if outcomes[i % 5] not in ("open", "randomized") else None)
        for i in range(n)
    ]
    Screening.objects.bulk_create(rows, batch_size=1000)


def _bench_log() -> list[str]:
    from django.db import connection
    from django.test import Client

    from core.models import Site, User
    from core.roles import Role
    from core.services import membership_grant

    site = Site.objects.create(code="901", name="Bench site", time_zone="Asia/Shanghai")
    user = User.objects.create_user(username="bench_coord", password="Bench-password-123")
    membership_grant(user=user, role=Role.COORDINATOR, site=site)
    client = Client()
    client.force_login(user)

    def measure(url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)  # the CSV's query runs while streaming

        fetch()  # warm
        queries = []
        # Counted with an execute wrapper: it survives the request closing the connection.
        with connection.execute_wrapper(lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)):
            fetch()
        start = time.perf_counter()
        for _ in range(5):
            fetch()
        return len(queries), (time.perf_counter() - start) / 5

    _bulk(site, user, 1, 100)
    log_100, t_100 = measure("/screening/log/")
    csv_100, c_100 = measure("/screening/log/?format=csv")
    list_100, _t = measure("/screening/list/")
    _bulk(site, user, 101, 4900)
    log_5000, t_5000 = measure("/screening/log/")
    csv_5000, c_5000 = measure("/screening/log/?format=csv")
    list_5000, _t = measure("/screening/list/")
    verdict = "equal" if (log_100, list_100) == (log_5000, list_5000) else "NOT EQUAL"
    return [
        f"screening log page queries: {log_100} at 100 screenings, {log_5000} at 5,000 ({verdict})",
        f"screening list page queries: {list_100} at 100, {list_5000} at 5,000",
        f"screening log CSV queries: {csv_100} at 100, {csv_5000} at 5,000 (streams with one cursor)",
        f"log page time at 5,000 / at 100: {t_5000 / t_100:.2f}× ({t_100 * 1000:.0f} ms → {t_5000 * 1000:.0f} ms)",
        f"log CSV time at 5,000 / at 100: {c_5000 / c_100:.1f}× for 50× the rows",
    ]


def run() -> list[str]:
    return _bench_evaluate() + _bench_log()
