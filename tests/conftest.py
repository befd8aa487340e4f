"""Fixed personas (STYLE.md), built through the real services, and client helpers."""

import os

import pytest
from django.test import Client

# Playwright's sync API runs an event loop in the test thread; the ORM calls that the tests
# make around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "Correct-Horse-42"


@pytest.fixture(scope="session", autouse=True)
def _no_stray_database_sessions(django_db_setup, django_db_blocker):
    """Before pytest-django drops the test database: end the sessions that threads left open
    (live-server request threads, export workers, Celery test workers), which would otherwise
    make DROP DATABASE fail with "being accessed by other users"."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # Client sessions only (the tests connect as the owner role, which may end its own and the
        # runtime role's sessions, not PostgreSQL's autovacuum workers).
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                       "AND backend_type = 'client backend'")


@pytest.fixture(autouse=True)
def _drop_killed_connections(django_db_blocker):
    """Before each test, a connection of this thread that the server ended (a test that stops
    or kills sessions: workers killed mid-task, restores) is closed, so the next query
    reconnects instead of failing the next test (request threads already check before reuse:
    CONN_HEALTH_CHECKS)."""
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and not conn.in_atomic_block and not conn.is_usable():
                conn.close()
    yield


@pytest.fixture(autouse=True)
def _emails_link_absolutely():
    """Every e-mail any test makes the system send (Django's test outbox) links absolutely
    (EDC_BASE_URL, core.services.absolute_url): a link to one of the app's paths written
    relative ("/subjects/001-0009/") fails the test that sent it."""
    yield
    from django.core import mail

    outbox = getattr(mail, "outbox", None) or []
    if not outbox:
        return
    import re

    from django.urls import get_resolver

    prefixes = sorted({str(p.pattern).split("/")[0] for p in get_resolver().url_patterns} - {""})
    alternatives = "|".join(re.escape(p) for p in prefixes)
    relative = re.compile(r"(?<![\w/.:])/(?:" + alternatives + r")/[^\s\"'<>]*")
    for message in outbox:
        texts = [message.body] + [content for content, _ in getattr(message, "alternatives", [])]
        found = [m for text in texts for m in relative.findall(text)]
        assert not found, f"relative link(s) {found} in the e-mail {message.subject!r}"


@pytest.fixture
def sites(db):
    from core.models import Site

    return {
        "001": Site.objects.create(code="001", name="Beijing Tiantan Hospital", time_zone="Asia/Shanghai",
                                   enrollment_target=120),
        "002": Site.objects.create(code="002", name="Xuanwu Hospital", time_zone="Asia/Shanghai",
                                   enrollment_target=100),
        "003": Site.objects.create(code="003", name="Charité Berlin", time_zone="Europe/Berlin",
                                   enrollment_target=10),
    }


def make_user(username, role, site, **extra):
    from core.models import User
    from core.services import membership_grant

    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username=username, password=PASSWORD,
                                        email=f"{username}@example.org", **extra)
    membership_grant(user=user, role=role, site=site)
    return user


@pytest.fixture
def personas(sites):
    """alice & bob at site 001, carol at 002, the blinded assessor, the monitor of site 001,
    the data manager, the statistician and the administrator."""
    from core.roles import Role

    return {
        "coord001": make_user("coord001", Role.COORDINATOR, sites["001"]),
        "inv001": make_user("inv001", Role.INVESTIGATOR, sites["001"]),
        "assessor001": make_user("assessor001", Role.ASSESSOR, sites["001"]),
        "coord002": make_user("coord002", Role.COORDINATOR, sites["002"]),
        "inv002": make_user("inv002", Role.INVESTIGATOR, sites["002"]),
        "monitor": make_user("monitor", Role.MONITOR, sites["001"]),
        "datamanager": make_user("datamanager", Role.DATA_MANAGER, None),
        "statistician": make_user("statistician", Role.STATISTICIAN, None),
        "admin": make_user("admin", Role.ADMIN, None, is_staff=True),
    }


def verify_two_factor(client: Client, user) -> None:
    """Pass TOTP for a privileged user in this client's session, as the real flow would."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="authenticator", defaults={"confirmed": True})
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    response = client.post("/account/2fa/", {"token": f"{totp.token():06d}", "next": "/"})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
def client_for(personas):
    """client_for("coord001") → a logged-in Client (2FA passed for privileged roles)."""
    from core.access import needs_two_factor

    def _make(username: str) -> Client:
        user = personas[username]
        client = Client()
        client.force_login(user)
        if needs_two_factor(user):
            verify_two_factor(client, user)
        return client

    return _make


# --- Real Celery workers on a real Redis (tests/workers.py) ----------------------------------


@pytest.fixture
def celery_harness(tmp_path):
    """An embedded Redis, a client sending to it and the workers a test starts (start_worker);
    all stopped at the end, with the workers' database sessions gone."""
    from tests.workers import CeleryHarness

    harness = CeleryHarness(tmp_path)
    try:
        yield harness
    finally:
        harness.close()


# --- Browser tests (Playwright on Debian's Chromium) ----------------------------------------


@pytest.fixture
def browser():
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run does it)")
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield instance
        instance.close()


@pytest.fixture
def login_page(browser, live_server, personas):
    """login_page("coord001") → a Playwright page signed in through the real login form
    (tablet-sized viewport). Privileged roles pass TOTP with a code computed here."""
    pages = []

    def _login(username: str, viewport=(1024, 768)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{live_server.url}/account/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        if "/account/2fa/" in page.url:
            from django_otp.oath import TOTP
            from django_otp.plugins.otp_totp.models import TOTPDevice

            device = TOTPDevice.objects.filter(user__username=username).first()
            totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            page.fill("#id_token", f"{totp.token():06d}")
            page.click("button:has-text('Verify')")
            page.wait_for_load_state("networkidle")
        page.live_url = live_server.url
        pages.append(context)
        return page

    yield _login
    for context in pages:
        context.close()
