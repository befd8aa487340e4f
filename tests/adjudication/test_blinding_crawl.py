"""Central readers, the steering committee and the blinded data manager crawl every page of
central review they can reach: never the arm (nor a procedure word), never a 500; sites
never see who read their cases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.adjudication.conftest import MP4, PNG, WAV, dicom_bytes, upload
from tests.security.test_sweep import ARM_WORDS, _arm_words_in_labels, crawl

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(personas, readers, randomized_subject, material_storage):
    import time_machine
    from django.utils import timezone

    from adjudication.models import Case
    from adjudication.services import dsmb_snapshot_take, material_upload, read_claim, read_save
    from followup import services as fu

    subjects = [randomized_subject("001"), randomized_subject("002")]
    for s in subjects:
        coord = personas[f"coord{s.site.code}"]
        t0 = s.randomized_at
        with time_machine.travel(t0 + timedelta(hours=2), tick=False):
            fu.procedure_save(subject=s, user=coord, passes=[{"technique": "stent_retriever", "etici": "2b50"}],
                              version=None, data={"first_reperfusion_at": t0 + timedelta(minutes=20), "stent": True,
                                                  "stent_type": "balloon_expandable", "final_etici": "2b67"})
        fu.visit48h_save(subject=s, user=coord, version=None,
                         data={"imaging_modality": "ct", "imaging_at": t0 + timedelta(hours=30), "new_ich": True,
                               "hb_1c": True})
        for category, content, name in (("angiography", MP4, "run.mp4"),
                                        ("baseline_imaging", dicom_bytes(patient_id=s.number), "ct.dcm"),
                                        ("followup_imaging", PNG, "fu.png"),
                                        ("day90_recording", WAV, "call.wav")):
            material_upload(user=coord, subject=s, category=category, uploaded=upload(name, content))
    from adjudication.services import cases_refresh_all

    cases_refresh_all()
    # One case read twice (final), one read once (a draft of each kind for the crawlers).
    mrs = Case.objects.get(subject=subjects[0], kind="mrs")
    from tests.adjudication.test_reads import MRS_ANSWERS_2

    for r in ("rater2", "rater3"):
        read_save(user=readers[r], read=read_claim(user=readers[r], case=mrs), data=MRS_ANSWERS_2, finalize=True)
    for reader, kind in (("corelab2", "angio_etici"), ("cec2", "sich")):
        read_claim(user=readers[reader], case=Case.objects.get(subject=subjects[0], kind=kind))
    snap = dsmb_snapshot_take(user=personas["statistician"], cut_off=timezone.now())
    return {"subjects": subjects, "cases": list(Case.objects.all()), "snapshot": snap}


def _start(review):
    from adjudication.models import Material

    urls = ["/adjudication/", "/adjudication/worklist/", "/adjudication/status/", "/adjudication/agreement/",
            "/adjudication/dsmb/", f"/adjudication/dsmb/{review['snapshot'].pk}/open/",
            f"/adjudication/dsmb/{review['snapshot'].pk}/closed/", "/"]
    urls += [f"/adjudication/cases/{c.pk}/" for c in review["cases"]]
    urls += [f"/adjudication/material/{m.pk}/" for m in Material.objects.all()]
    for s in review["subjects"]:
        urls += [f"/adjudication/subjects/{s.number}/material/", f"/subjects/{s.number}/"]
    return urls


@pytest.mark.parametrize(("who", "language"), [
    ("corelab2", "en"), ("cec2", "en"), ("rater2", "en"), ("steering", "en"), ("datamanager", "en"),
    ("assessor001", "en"), ("corelab2", "zh-hans"), ("rater2", "zh-hans"), ("steering", "zh-hans")])
def test_central_readers_and_blinded_users_never_see_the_arm(who, language, review, client_for):
    from django.conf import settings

    from adjudication.models import Case

    client = client_for(who)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.raise_request_exception = False
    pages = crawl(client, _start(review))
    s1 = review["subjects"][0]
    must_reach = {
        "corelab2": ["/adjudication/worklist/",
                     f"/adjudication/cases/{Case.objects.get(subject=s1, kind='angio_etici').pk}/"],
        "cec2": [f"/adjudication/cases/{Case.objects.get(subject=s1, kind='sich').pk}/"],
        "rater2": [f"/adjudication/cases/{Case.objects.get(subject=s1, kind='mrs').pk}/"],
        "steering": [f"/adjudication/dsmb/{review['snapshot'].pk}/open/"],
        "datamanager": ["/adjudication/status/", f"/subjects/{s1.number}/"],
        "assessor001": [f"/adjudication/subjects/{s1.number}/material/"],
    }[who]
    for url in must_reach:
        assert pages.get(url, (None,))[0] == 200, f"{who} did not reach {url}: {pages.get(url, (None,))[0]}"
    labels = _arm_words_in_labels()
    leaks = []
    for url, (status, bodies) in pages.items():
        assert status < 500, f"{who} GET {url} → {status}"
        for body in bodies:
            m = ARM_WORDS.search(body)
            if m:
                leaks.append(f"{url}: {body[max(0, m.start() - 80):m.end() + 80]!r}")
            leaks += [f"{url}: arm label {label!r}" for label in labels if label in body]
    assert not leaks, f"{who} learns the arm:\n" + "\n".join(leaks)
    # The closed report is by arm: nobody blinded gets it.
    assert pages[f"/adjudication/dsmb/{review['snapshot'].pk}/closed/"][0] == 403


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_crawl_can_fail_the_statistician_sees_the_arm_in_the_closed_report(language, review, client_for):
    from django.conf import settings

    client = client_for("statistician")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    pages = crawl(client, [f"/adjudication/dsmb/{review['snapshot'].pk}/closed/"], limit=1)
    labels = _arm_words_in_labels()
    found = {label for _s, bodies in pages.values() for body in bodies for label in labels if label in body}
    assert found
    if language == "zh-hans":
        assert any("\u4e00" <= ch <= "\u9fff" for label in found for ch in label), found


def test_the_mrs_rater_is_never_offered_the_angiography(review, client_for):
    from adjudication.models import Case, Material

    client = client_for("rater2")
    case = Case.objects.get(subject=review["subjects"][0], kind="mrs")
    page = client.get(f"/adjudication/cases/{case.pk}/").content.decode()
    angio = Material.objects.filter(category="angiography")
    assert angio and all(f"/adjudication/material/{m.pk}/" not in page for m in angio)
    assert all(client.get(f"/adjudication/material/{m.pk}/").status_code == 404 for m in angio)


def test_sites_never_see_who_read_their_cases(review, client_for, readers):
    client = client_for("coord001")
    client.raise_request_exception = False
    pages = crawl(client, _start(review) + ["/data/queries/", "/followup/notifications/"])
    names = [u.username for u in readers.values()]
    leaks = [f"{url}: {n}" for url, (status, bodies) in pages.items() if status == 200
             for body in bodies for n in names if n in body]
    assert not leaks, leaks
    assert pages[f"/subjects/{review['subjects'][0].number}/"][0] == 200
