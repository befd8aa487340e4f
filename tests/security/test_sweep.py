"""Cross-cutting security sweeps over every URL of the project (SPEC §2, §5): no persona ever
gets a server error, blinded users never learn the arm by any page, CSV or JSON, and site staff
never reach another site's objects."""

from __future__ import annotations

import io
import re
import zipfile
from html import unescape
from urllib.parse import urlsplit

import pytest

from tests.security.conftest import concrete_urls

pytestmark = pytest.mark.django_db

PERSONAS = ["coord001", "inv001", "assessor001", "coord002", "inv002", "monitor", "datamanager",
            "statistician", "admin"]


def test_no_page_errors_for_any_persona(study, client_for):
    urls = concrete_urls(study)
    failures = []
    for who in PERSONAS:
        client = client_for(who)
        client.raise_request_exception = False
        for name, group in urls.items():
            for url in group:
                response = client.get(url)
                if response.status_code >= 500:
                    failures.append(f"{who} GET {url} ({name}) → {response.status_code}")
        assert client.get("/account/logout/").status_code < 500  # GET is refused, never a 500
    anonymous = __import__("django.test", fromlist=["Client"]).Client(raise_request_exception=False)
    for name, group in urls.items():
        for url in group:
            response = anonymous.get(url)
            if response.status_code >= 500:
                failures.append(f"anonymous GET {url} ({name}) → {response.status_code}")
    assert not failures, "\n".join(failures)


# --- blinding ---------------------------------------------------------------------------------

# The arm codes and their display labels (randomization.models.Arm), and words that only the
# procedure CRF uses (a stent placed, balloon angioplasty: they reveal the arm). "Stent
# retriever" is a thrombectomy device used before randomization in both arms, so bare "stent"
# is allowed.
ARM_WORDS = re.compile(
    r"STENTING|CONTINUED_MT|Stenting or angioplasty|Continued thrombectomy"
    r"|stent (?:placed|type|diameter|length|\(device\))|stent_(?:type|diameter|length|device)"
    r"|balloon|angioplasty|in-stent|instent|Balloon-expandable|Self-expanding"
    # per-arm counts under a neutral name ("arm A: 3", "group B") — "treatment arm" in plain
    # explanatory text and the NIHSS item "Motor arm" are not leaks.
    r"|\b(?:arm|group) [AB12]\b",
    re.I,
)
LINK = re.compile(r"""(?:href|hx-get|data-url)\s*=\s*["']([^"'#]+)""")
# Never followed: they change state on GET elsewhere or leave the app (static files, language).
SKIP = ("/static/", "/account/logout/", "/i18n/", "/admin/logout/", "/media/")


def _arm_words_in_labels():
    """The arm labels in every language the site offers (a Chinese page must not say it either)."""
    from django.conf import settings
    from django.utils import translation

    from randomization.models import Arm

    words = set()
    for code, _ in settings.LANGUAGES:
        with translation.override(code):
            words |= {str(label) for label in Arm.labels}
    return words


def _bodies(response) -> list[str]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
    return [content.decode("utf-8", "replace")]


def crawl(client, start: list[str], limit: int = 600) -> dict[str, tuple[int, list[str]]]:
    """GET every start URL and every same-site link found in the pages, breadth first."""
    seen: dict[str, tuple[int, list[str]]] = {}
    per_path: dict[str, int] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen or url.startswith(SKIP) or not url.startswith("/"):
            continue
        path = urlsplit(url).path
        if per_path.get(path, 0) >= 2:  # a few filter / sort variants of a page are enough
            continue
        per_path[path] = per_path.get(path, 0) + 1
        response = client.get(url)
        bodies = _bodies(response)
        seen[url] = (response.status_code, bodies)
        content_type = response.get("Content-Type", "")
        if "html" in content_type:
            for link in LINK.findall(bodies[0]):
                link = unescape(link)
                if link.startswith("?"):
                    link = path + link
                elif not link.startswith("/"):
                    continue
                queue.append(link)
        if response.status_code in (301, 302) and response.get("Location", "").startswith("/"):
            queue.append(response["Location"])
    return seen


@pytest.mark.parametrize("who", ["assessor001", "datamanager", "admin"])
def test_blinded_users_never_see_the_arm(who, study, client_for):
    client = client_for(who)
    client.raise_request_exception = False
    urls = concrete_urls(study)
    start = [u for group in urls.values() for u in group]
    start += ["/data/audit/?format=csv", "/data/audit/?format=json", "/exports/dictionary/?format=csv",
              f"/data/audit/?subject={study['subjects']['001-0'].number}", "/data/audit/?form=V1_PROCEDURE",
              "/exports/reports/consort/?format=csv", "/exports/reports/dsmb/?format=csv"]
    labels = _arm_words_in_labels()
    pages = crawl(client, start)
    # The crawl did reach the pages that matter for this persona (so the test can fail).
    must_reach = {
        "assessor001": [f"/subjects/{study['subjects']['001-0'].number}/form/V5/"],
        "datamanager": ["/data/audit/?format=csv", "/data/queries/", "/exports/dictionary/",
                        f"/exports/center/{study['exports']['datamanager'].pk}/download/",
                        f"/data/subjects/{study['subjects']['001-0'].pk}/"],
        "admin": ["/admin/", "/admin/core/user/", "/admin/core/membership/", "/data/audit/"],
    }[who]
    for url in must_reach:
        assert pages.get(url, (None,))[0] == 200, f"{who} did not reach {url}: {pages.get(url, (None,))[0]}"
    leaks = []
    for url, (status, bodies) in pages.items():
        assert status < 500, f"{who} GET {url} → {status}"
        for body in bodies:
            match = ARM_WORDS.search(body)
            if match:
                leaks.append(f"{url}: {body[max(0, match.start() - 80):match.end() + 80]!r}")
            leaks += [f"{url}: arm label {label!r}" for label in labels if label in body]
    assert not leaks, f"{who} learns the arm:\n" + "\n".join(leaks)


def test_the_blinding_crawl_can_fail_the_unblinded_statistician_sees_the_arm(study, client_for):
    client = client_for("statistician")
    pages = crawl(client, [f"/randomization/lists/{study['allocation_list'].pk}/csv/",
                           f"/randomization/allocation/{study['allocations']['001-0'].pk}/"], limit=2)
    assert any(ARM_WORDS.search(body) for _, bodies in pages.values() for body in bodies)


# --- site scope ------------------------------------------------------------------------------


def test_site_staff_cannot_reach_other_sites(study, client_for):
    """coord002 asks for every object URL of a site-001 object (GET, and POST for the views
    that only take POST): never a 200 or a redirect into the page, only 403/404."""
    urls = concrete_urls(study, site="001")
    assert {"followup:casebook", "datamanagement:crf", "eligibility:detail", "randomization:result",
            "datamanagement:query"} <= set(urls)
    client = client_for("coord002")
    client.raise_request_exception = False
    reached = []
    for name, group in urls.items():
        for url in group:
            response = client.get(url)
            if response.status_code == 405:  # POST-only: the POST must be refused as well
                response = client.post(url, {})
            if response.status_code not in (401, 403, 404):  # 401: the API takes tokens only
                reached.append(f"{name} {url} → {response.status_code}")
    assert not reached, "coord002 reaches site-001 objects:\n" + "\n".join(reached)


def test_the_site_sweep_can_fail_coord001_reaches_its_own_objects(study, client_for):
    client = client_for("coord001")
    urls = concrete_urls(study, site="001")
    assert client.get(urls["followup:casebook"][0]).status_code == 200
    assert client.get(urls["eligibility:detail"][0]).status_code == 200


def test_site_staff_pages_never_name_another_sites_subjects(study, client_for):
    """coord002 crawls everything it can reach (lists, logs, reports, CSV): no site-001
    screening or subject number ever appears."""
    client = client_for("coord002")
    client.raise_request_exception = False
    start = [u for group in concrete_urls(study).values() for u in group]
    pages = crawl(client, start)
    assert client.get("/subjects/").status_code == 200
    from core.models import Subject
    from eligibility.models import Screening

    numbers = [s.number for s in Subject.objects.filter(site__code="001")]
    numbers += [s.number for s in Screening.objects.filter(site__code="001")]
    other = re.compile(r"\b(?:" + "|".join(map(re.escape, numbers)) + r")\b")
    # Only pages served (a 404 page may echo the number the user typed in the address).
    leaks = [f"{url}: {m.group(0)}" for url, (status, bodies) in pages.items() if status == 200
             for body in bodies for m in [other.search(body)] if m]
    assert not leaks, "coord002 sees site-001 subjects:\n" + "\n".join(leaks)
    own = re.compile(r"\b002-S?\d{4}\b")
    assert any(own.search(body) for _, bodies in pages.values() for body in bodies)  # can fail


def test_a_superuser_administrator_never_sees_the_arm_on_the_admin_site(study, client_for, personas):
    """README deploys with `createsuperuser` and then grants the admin role: that person is
    still blinded (SPEC §2), so the admin site may not show clinical history (pghistory events of
    the procedure CRF: stent type, diameter) or any other arm-revealing row."""
    admin_user = personas["admin"]
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    client = client_for("admin")
    client.raise_request_exception = False
    start = [u for name, group in concrete_urls(study).items() if name.startswith("admin:") for u in group]
    pages = crawl(client, ["/admin/", "/admin/pghistory/events/"] + start)
    assert pages["/admin/"][0] == 200
    assert pages["/admin/pghistory/events/"][0] == 404  # no browser of the clinical history
    leaks = []
    for url, (status, bodies) in pages.items():
        assert status < 500, f"GET {url} → {status}"
        if url.startswith("/admin/"):
            leaks += [f"{url}: {m.group(0)}" for body in bodies for m in [ARM_WORDS.search(body)] if m]
    assert not leaks, "a superuser administrator learns the arm:\n" + "\n".join(leaks)
