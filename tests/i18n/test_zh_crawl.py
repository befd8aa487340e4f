"""Every page each role can reach, walked in zh-hans: no visible line with English words and
no Chinese character, apart from codes, units, abbreviations and names (tests/i18n/visible.py
lists the exceptions)."""

from __future__ import annotations

import os
import re
from collections import deque
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.test import Client

from tests.i18n.visible import CJK, untranslated_lines, visible_lines

pytestmark = pytest.mark.django_db

ROLES = ["coord001", "inv001", "assessor001", "monitor", "datamanager", "statistician", "admin"]
# Not pages: sign-out, language switch, downloads and files; the Django admin is Django's own;
# the API (and its generated OpenAPI docs) is for programs.
SKIP = re.compile(r"^/(account/logout|i18n/|admin/|static/|api/)|format=(csv|pdf|json|xml)|/download|\.(csv|pdf|zip|xpt)$")
MAX_PAGES = 160
PER_PATTERN = 2  # /subjects/001-0001/ and /subjects/001-0002/ are the same page


# Known gaps, not yet translated: none left (the window queries, range units, adjudication tags
# and agreement labels listed here before are translated now). A pattern added here must name
# its issue.
KNOWN_GAPS: list[re.Pattern] = []


def _known_gap(line: str) -> bool:
    return any(p.search(line) for p in KNOWN_GAPS)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.links.append(href)


def _pattern(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(sorted(k.split("=")[0] for k in parts.query.split("&") if k))
    # The first five path segments name the page (/data/crf/SCREENING/N/edit/<field>/ is one).
    path = "/".join(parts.path.split("/")[:6])
    return re.sub(r"\d+", "N", path) + "?" + query


def _client(user) -> Client:
    from core.access import needs_two_factor
    from tests.conftest import verify_two_factor

    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = "zh-hans"
    if needs_two_factor(user):
        verify_two_factor(client, user)
    return client


def crawl(client: Client, start=("/",), skip=SKIP, within="/") -> dict[str, list[str]]:
    """Breadth-first walk of the same-site links under `within`; returns {url: untranslated lines}."""
    seen, per_pattern, found = set(), {}, {}
    queue = deque(start)
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen or skip.search(url) or not url.startswith(within):
            continue
        pattern = _pattern(url)
        if per_pattern.get(pattern, 0) >= PER_PATTERN:
            continue
        seen.add(url)
        per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code in (301, 302):
            queue.append(response["Location"])
            continue
        if "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        assert 'lang="zh-hans"' in html, url
        bad = [line for line in untranslated_lines(html) if not _known_gap(line)]
        if bad:
            found[url] = bad
        parser = _Links()
        parser.feed(html)
        for href in parser.links:
            target = urldefrag(urljoin(url, href))[0]
            if target.startswith("/") and not target.startswith("//"):
                queue.append(target)
    found["__pages__"] = sorted(seen)
    return found


@pytest.fixture
def trial(monkeypatch):
    """The demo trial (seed_demo: sites, one account per role, subjects through the real
    services), plus a query so that the query pages have content."""
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "Demo-Password-42")
    call_command("seed_demo", stdout=StringIO())
    from core.models import User

    # Chinese site staff: notices and e-mails are written in each recipient's language.
    User.objects.update(preferred_language="zh-hans")
    call_command("seed_demo", "--subjects", "6", stdout=StringIO())
    from datamanagement.services import query_open
    from eligibility.models import Screening

    screening = Screening.objects.filter(site__code="001").order_by("pk").first()
    query_open(user=User.objects.get(username="monitor"), instance=screening, field_name="aspects",
               text="请核实 ASPECTS 评分。")
    # A visit outside its window: its edit-check query is stored as msgid and parameters and
    # must read in Chinese on the query pages (issue 15).
    from datetime import timedelta

    from datamanagement.models import Query
    from datamanagement.services import crf_values_update
    from followup.models import Visit24h

    v2 = Visit24h.objects.select_related("subject").filter(subject__site__code="001").order_by("pk").first()
    crf_values_update(user=User.objects.get(username="coord001"), instance=v2, reason="time as in the source",
                      values={"assessed_at": v2.subject.randomized_at + timedelta(hours=40)})
    assert Query.objects.filter(check_code="VISIT_WINDOW", object_id=v2.pk, text__contains="outside its window")
    # Free text is data, not interface: a Chinese site's statistician names the list in Chinese.
    from randomization.models import AllocationList

    AllocationList.objects.update(name="演示分配表")
    return {u.username: u for u in User.objects.filter(username__in=ROLES)}


@pytest.mark.parametrize("username", ROLES)
def test_every_page_a_role_reaches_in_zh_hans_is_chinese(username, trial):
    found = crawl(_client(trial[username]), start=("/", "/no-such-page/"))
    pages = found.pop("__pages__")
    assert len(pages) >= 3, pages  # the walk really went somewhere
    first_seen = {}
    for url, lines in found.items():
        for line in lines:
            first_seen.setdefault(line, url)
    report = "\n".join(f"  {line!r}  (on {url})" for line, url in first_seen.items())
    if os.environ.get("ZH_CRAWL_REPORT"):
        with open(os.environ["ZH_CRAWL_REPORT"], "a", encoding="utf-8") as out:
            out.write(f"## {username}\n{report}\n")
    assert not found, f"{username}: {len(first_seen)} untranslated lines on {len(found)} of {len(pages)} pages:\n{report}"


# The admin screens the administrator meets (users, sites, memberships: lists, forms, history);
# not sign-out, the JavaScript catalogue, "view on site" redirects, nor sorting/filter variants.
ADMIN_SKIP = re.compile(r"^/admin/(logout|jsi18n|r/)|[?&](o|q|_changelist_filters|p)=")


def test_the_admin_screens_in_zh_hans_are_chinese(trial):
    found = crawl(_client(trial["admin"]), start=("/admin/",), skip=ADMIN_SKIP, within="/admin/")
    pages = found.pop("__pages__")
    assert {"/admin/", "/admin/core/user/", "/admin/core/site/", "/admin/core/membership/"} <= set(pages), pages
    assert any(p.endswith("/change/") for p in pages) and any(p.endswith("/add/") for p in pages), pages
    lines = {line: url for url, found_lines in found.items() for line in found_lines}
    report = "\n".join(f"  {line!r}  (on {url})" for line, url in lines.items())
    if os.environ.get("ZH_CRAWL_REPORT"):
        with open(os.environ["ZH_CRAWL_REPORT"], "a", encoding="utf-8") as out:
            out.write(f"## admin site\n{report}\n")
    assert not found, f"admin: {len(lines)} untranslated lines on {len(found)} of {len(pages)} pages:\n{report}"


def test_the_line_rule_catches_english_and_allows_codes_and_names():
    html = ("<div><p>Not entered: 最后正常时间</p><p>Failed criteria</p><td>001-S0007</td>"
            "<td>NIHSS 12</td><span>Li Na</span><p>Beijing Tiantan Hospital</p><th>mL/min</th>"
            "<button>Save</button><input placeholder='Search subjects'></div>")
    assert untranslated_lines(html) == ["Failed criteria", "Save", "Search subjects"]
    assert "Not entered: 最后正常时间" in visible_lines(html) and CJK.search("最后")


def test_the_crawl_fails_on_an_english_page(trial):
    """The crawl is able to fail: the same walk in English reports lines."""
    client = _client(trial["coord001"])
    client.cookies["django_language"] = "en"
    response = client.get("/")
    assert untranslated_lines(response.content.decode())
