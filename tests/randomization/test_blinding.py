"""Blinding: the matrix in core.roles/core.access, applied by randomization.selectors, and a
crawl of every page a blinded user can reach."""

import re
from urllib.parse import urljoin, urlparse

import pytest

from randomization.selectors import arms_for_subjects, subject_arm
from randomization.services import subject_randomize

pytestmark = pytest.mark.django_db

ARM_PATTERN = re.compile(r"STENTING|CONTINUED_MT|Stenting|Continued thrombectomy|angioplasty|支架置入|血管成形|继续取栓", re.I)


@pytest.fixture
def randomized(personas, allocation_list, confirmed):
    """Four subjects at 001 and two at 002, plus a breach report naming one."""
    from randomization.services import blinding_breach_report

    out = [subject_randomize(screening=confirmed("001"), user=personas["coord001"]) for _ in range(4)]
    out += [subject_randomize(screening=confirmed("002"), user=personas["coord002"]) for _ in range(2)]
    confirmed("001")  # one more waiting
    from django.utils import timezone

    blinding_breach_report(user=personas["coord001"], site=out[0].subject.site, subject=out[0].subject,
                           unblinded_user=personas["assessor001"], occurred_at=timezone.now(), route="told",
                           description="The patient's daughter mentioned the device.")
    return out


def test_subject_arm_follows_the_blinding_matrix(personas, randomized):
    a001, a002 = randomized[0], randomized[-1]
    assert subject_arm(user=personas["coord001"], subject=a001.subject) == a001.arm
    assert subject_arm(user=personas["inv001"], subject=a001.subject) == a001.arm
    assert subject_arm(user=personas["monitor"], subject=a001.subject) == a001.arm
    assert subject_arm(user=personas["statistician"], subject=a002.subject) == a002.arm
    for name in ("assessor001", "datamanager", "admin"):
        assert subject_arm(user=personas[name], subject=a001.subject) is None
    # site staff do not see another site's arms; the monitor only at assigned sites
    assert subject_arm(user=personas["coord002"], subject=a001.subject) is None
    assert subject_arm(user=personas["monitor"], subject=a002.subject) is None


def test_arms_for_subjects_in_one_query_and_empty_for_blinded(personas, randomized, django_assert_num_queries):
    subjects = [a.subject for a in randomized]
    user = personas["statistician"]
    from core.access import user_memberships

    user_memberships(user)
    with django_assert_num_queries(1):
        arms = arms_for_subjects(user=user, subjects=subjects)
    assert arms == {a.subject_id: a.arm for a in randomized}
    assert arms_for_subjects(user=personas["coord001"], subjects=subjects) == {
        a.subject_id: a.arm for a in randomized if a.subject.site.code == "001"}
    for name in ("assessor001", "datamanager", "admin"):
        assert arms_for_subjects(user=personas[name], subjects=subjects) == {}


def test_assessor_holding_a_site_role_elsewhere_stays_blinded(personas, sites, randomized):
    from core.access import forget_memberships
    from core.roles import Role
    from tests.conftest import make_user

    make_user("assessor001", Role.COORDINATOR, sites["002"])
    forget_memberships(personas["assessor001"])
    subjects = [a.subject for a in randomized]
    assert arms_for_subjects(user=personas["assessor001"], subjects=subjects) == {}
    assert subject_arm(user=personas["assessor001"], subject=randomized[-1].subject) is None


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _crawl(client, start_urls, max_pages=200):
    seen, queue, pages = set(), list(start_urls), {}
    while queue and len(seen) < max_pages:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        response.text_body = _body(response)
        pages[url] = response
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in re.findall(r'href="([^"#]+)"', response.text_body):
            target = urljoin(url, href)
            parsed = urlparse(target)
            if parsed.netloc not in ("", "testserver") or parsed.path.startswith(("/static/", "/account/logout")):
                continue
            queue.append(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
    return pages


@pytest.mark.parametrize(("username", "language"), [("assessor001", "en"), ("assessor001", "zh-hans"),
                                                     ("datamanager", "en"), ("admin", "en")])
def test_crawl_as_blinded_user_finds_no_arm_anywhere(username, language, client_for, randomized, allocation_list):
    from django.conf import settings

    client = client_for(username)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    # Every page linked from home, plus every randomization URL guessed directly.
    direct = ["/", "/randomization/home/", "/randomization/lists/", "/randomization/breaches/",
              "/randomization/breaches/new/", "/randomization/notifications/",
              f"/randomization/lists/{allocation_list.pk}/", f"/randomization/lists/{allocation_list.pk}/csv/"]
    direct += [f"/randomization/allocation/{a.pk}/" for a in randomized]
    direct += [f"/randomization/screening/{a.screening_id}/" for a in randomized]
    pages = _crawl(client, direct)
    assert len(pages) >= len(direct)
    for url, response in pages.items():
        assert response.status_code < 500, url
        body = response.text_body
        match = ARM_PATTERN.search(body)
        assert match is None, f"{username} sees {match.group(0)!r} on {url}"
    # Responses must not differ by arm either: every allocation page answers the same way.
    statuses = {pages[f"/randomization/allocation/{a.pk}/"].status_code for a in randomized}
    assert len(statuses) == 1


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_crawl_as_site_staff_does_show_the_arm(language, client_for, randomized):
    """The crawl can fail: an unblinded coordinator's pages do carry the arm, in either language."""
    from django.conf import settings

    client = client_for("coord001")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    pages = _crawl(client, ["/"])
    found = {m.group(0) for r in pages.values() if r.status_code == 200 for m in ARM_PATTERN.finditer(r.text_body)}
    assert found
    if language == "zh-hans":
        assert found & {"支架置入", "血管成形", "继续取栓"}, found


def test_breach_report_is_filed_by_anyone_and_audited(client_for, personas, randomized):
    from audit.models import AuditAction, AuditEvent
    from randomization.models import BlindingBreach

    subject = randomized[1].subject
    client = client_for("assessor001")
    form = client.get("/randomization/breaches/new/")
    assert form.status_code == 200
    response = client.post("/randomization/breaches/new/", {
        "site": subject.site_id, "subject_number": subject.number, "unblinded_username": "assessor001",
        "occurred_at": "2026-11-20T10:30", "route": "imaging", "description": "Saw the follow-up CT report."})
    assert response.status_code == 302
    breach = BlindingBreach.objects.get(subject=subject)
    assert breach.reported_by == personas["assessor001"] and breach.unblinded_user == personas["assessor001"]
    assert breach.occurred_at.isoformat().startswith("2026-11-20T02:30")  # 10:30 Shanghai = 02:30 UTC
    assert AuditEvent.objects.filter(action=AuditAction.BLINDING_BREACH, object_id=str(breach.pk)).exists()
    from randomization.selectors import breaches_for_subject

    assert list(breaches_for_subject(subject=subject)) == [breach]


def test_breach_form_keeps_input_and_names_the_field(client_for, randomized):
    client = client_for("monitor")
    response = client.post("/randomization/breaches/new/", {
        "site": randomized[0].subject.site_id, "subject_number": "001-9999", "unblinded_person": "",
        "occurred_at": "2026-11-20T10:30", "route": "told", "description": "Nurse said it aloud."})
    body = response.content.decode()
    assert response.status_code == 400
    assert "no subject 001-9999 at site 001" in body and "Who: give an EDC user name" in body
    assert "Nurse said it aloud." in body
