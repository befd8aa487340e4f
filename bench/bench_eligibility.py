"""Eligibility benchmarks (`.venv/bin/python -m bench eligibility`).

1. rules.evaluate() calls per second on a complete eligible screening and on an empty one,
   against a baseline in the same run: the same 19 threshold comparisons written as one bare
   function with no reasons (what the declarative, self-explaining engine costs).
2. The screening-log page's query count at 100 and at 5,000 screenings (must be equal), and its
   time at 5,000 as a ratio to 100 (rows are paginated; the counts are SQL aggregates).
3. The fast coordinator's journey, new screening → investigator's confirmation → randomization
   result, driven in Chromium on a 1024×768 tablet exactly as the browser test drives it
   (tests/eligibility/test_browser_fast_screening.py): the inputs it takes (fields filled,
   choices made, clicks), the page loads and the server requests (documents, live-verdict
   posts), and its time — with the NIHSS typed as its total and with the 15 items, the items
   path as a ratio to the total path in the same run. BENCH_JOURNEY_RUNS runs per path (3).
"""

from __future__ import annotations

import os
import shutil
import statistics
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


class _CountingPage:
    """A Playwright page that counts what the user does: fields typed into, choices made
    (drop-downs, radios, checkboxes) and clicks. Everything else passes through."""

    def __init__(self, page, counts: dict[str, int]):
        self._page, self._counts = page, counts

    def __getattr__(self, name):
        attr = getattr(self._page, name)
        kind = {"fill": "typed", "select_option": "chosen", "check": "chosen", "click": "clicks"}.get(name)
        if kind is None:
            return attr

        def counted(*args, **kwargs):
            self._counts[kind] += 1
            return attr(*args, **kwargs)

        return counted


def _signed_in_context(browser, live_url: str, user):
    """A browser context with the user's session (force_login, plus TOTP for the roles that
    need it, as the tests do): the journey starts signed in."""
    from django.conf import settings
    from django.test import Client

    from core.access import needs_two_factor
    from tests.conftest import verify_two_factor

    client = Client()
    client.force_login(user)
    if needs_two_factor(user):
        verify_two_factor(client, user)
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_url}])
    page = context.new_page()
    page.set_default_timeout(20000)
    page.live_url = live_url
    return context, page


def _journey_once(browser, live_url, coord_user, inv_user, nihss: str) -> dict:
    from django.utils import timezone

    from tests.eligibility.test_browser_fast_screening import screen_confirm_randomize

    counts = dict.fromkeys(("typed", "chosen", "clicks", "page_loads", "documents", "live_posts"), 0)

    def on_request(request):
        if request.resource_type == "document":
            counts["documents"] += 1  # a POST answered by a redirect counts twice
        elif "/screening/verdict/" in request.url:
            counts["live_posts"] += 1

    contexts, pages = [], []
    for user in (coord_user, inv_user):
        context, page = _signed_in_context(browser, live_url, user)
        page.goto(f"{live_url}/")  # signed in on the app before the journey starts (not counted)
        page.on("request", on_request)
        page.on("framenavigated", lambda frame, page=page: counts.__setitem__(
            "page_loads", counts["page_loads"] + (frame == page.main_frame)))
        contexts.append(context)
        pages.append(page)
    coord, inv = (_CountingPage(p, counts) for p in pages)
    coord.live_url = inv.live_url = live_url
    started = time.perf_counter()
    screen_confirm_randomize(coord, inv, timezone.now(), nihss)
    counts["seconds"] = time.perf_counter() - started
    counts["inputs"] = counts["typed"] + counts["chosen"] + counts["clicks"]
    for context in contexts:
        context.close()
    return counts


def _form_fields(browser, live_url, user) -> int:
    """Answerable fields the new-screening form offers (named inputs, drop-downs, radio groups)."""
    context, page = _signed_in_context(browser, live_url, user)
    page.goto(f"{live_url}/screening/new/")
    names = page.locator("#screening-form [name]:not([type=hidden])").evaluate_all(
        "els => Array.from(new Set(els.map(e => e.name)))")
    context.close()
    return len(names)


def _end_server_sessions() -> None:
    """The live server's request threads (daemons) may still hold a database session after it
    stopped; end them, or the scratch database cannot be dropped ("being accessed by other
    users"). Only sessions of this benchmark's own database are touched."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                       "AND backend_type = 'client backend'")


def _bench_journey() -> list[str]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return ["screening → randomization journey: SKIPPED (no Chromium: apt-get install chromium)"]
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls beside Playwright's loop
    from playwright.sync_api import sync_playwright
    from pytest_django.live_server_helper import LiveServer

    from core.models import Site, User
    from core.roles import Role
    from core.services import membership_grant
    from randomization.services import allocation_list_generate

    runs = int(os.environ.get("BENCH_JOURNEY_RUNS", "3"))
    site = Site.objects.get_or_create(code="001", defaults={"name": "Bench site 001", "time_zone": "Asia/Shanghai"})[0]
    users = {}
    for name, role, where in (("j_coord", Role.COORDINATOR, site), ("j_inv", Role.INVESTIGATOR, site),
                              ("j_stat", Role.STATISTICIAN, None)):
        users[name] = User.objects.create_user(username=name, password="Bench-password-123")
        membership_grant(user=users[name], role=role, site=where)
    allocation_list_generate(user=users["j_stat"], seed="bench-journey", entries_per_stratum=4 * runs + 4,
                             site_codes=["001"])
    server = LiveServer("127.0.0.1")
    results: dict[str, list[dict]] = {"total": [], "items": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            try:
                fields = _form_fields(browser, server.url, users["j_coord"])
                _journey_once(browser, server.url, users["j_coord"], users["j_inv"], "total")  # warm-up
                for _ in range(runs):  # alternate, so machine load falls on both paths alike
                    for path in ("total", "items"):
                        results[path].append(_journey_once(browser, server.url, users["j_coord"],
                                                           users["j_inv"], path))
            finally:
                browser.close()
    finally:
        server.stop()
        _end_server_sessions()

    def line(path: str) -> tuple[str, float]:
        first = results[path][0]
        seconds = statistics.median(r["seconds"] for r in results[path])
        return (f"journey with the NIHSS as {'its typed total' if path == 'total' else 'its 15 items'}: "
                f"{first['inputs']} inputs ({first['typed']} typed, {first['chosen']} chosen, "
                f"{first['clicks']} clicks), {first['page_loads']} page loads, {first['documents']} "
                f"document requests, {first['live_posts']} live-verdict posts; "
                f"{seconds:.1f} s median of {runs} (driven by Playwright at machine speed)"), seconds

    total_line, total_s = line("total")
    items_line, items_s = line("items")
    t, i = results["total"][0], results["items"][0]
    return [
        f"screening form: {fields} answerable fields; tablet 1024×768, Chromium, live server on 127.0.0.1",
        total_line,
        items_line,
        f"items path / total path: {i['inputs'] / t['inputs']:.2f}× the inputs, "
        f"{i['page_loads'] / t['page_loads']:.2f}× the page loads, {items_s / total_s:.2f}× the time",
    ]


def run() -> list[str]:
    return _bench_evaluate() + _bench_log() + _bench_journey()
