"""κ against hand-worked examples (adjudication.agreement), and the statistician's page."""

from __future__ import annotations

import pytest

from adjudication.agreement import kappa
from tests.adjudication.conftest import WAV, upload


def test_unweighted_kappa_hand_worked():
    # 10 pairs: (0,0)×4, (1,1)×3, (0,1)×2, (1,0)×1.
    # p_o = 7/10 = 0.70; rater A: 0 six times, 1 four; rater B: 0 five, 1 five;
    # p_e = 0.6·0.5 + 0.4·0.5 = 0.50; κ = (0.70 − 0.50) / (1 − 0.50) = 0.40.
    pairs = [(0, 0)] * 4 + [(1, 1)] * 3 + [(0, 1)] * 2 + [(1, 0)]
    assert kappa(pairs, (0, 1)) == pytest.approx(0.40)


def test_weighted_kappa_hand_worked():
    # 6 pairs over 0–2: (0,0) (1,1) (2,2) (0,1) (1,2) (2,0); both raters' margins are 1/3 each.
    # Quadratic weights: w(1) = 1/4, w(2) = 1.  Observed Σw·p = (¼ + ¼ + 1)/6 = 0.25;
    # expected Σw·e = (4·¼ + 2·1)/9 = 1/3;  κw = 1 − 0.25 / (1/3) = 0.25.
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0)]
    assert kappa(pairs, (0, 1, 2), "quadratic") == pytest.approx(0.25)
    # Linear weights: w(1) = ½, w(2) = 1.  Observed (½ + ½ + 1)/6 = 1/3; expected (4·½ + 2)/9 = 4/9;
    # κw = 1 − (1/3)/(4/9) = 0.25.
    assert kappa(pairs, (0, 1, 2), "linear") == pytest.approx(0.25)
    # One step off is a small disagreement under weights, a full one without:
    near = [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 1)]
    assert kappa(near, (0, 1, 2), "quadratic") > kappa(near, (0, 1, 2))


def test_unused_categories_do_not_change_weighted_kappa():
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0)]
    assert kappa(pairs, tuple(range(7)), "quadratic") == pytest.approx(kappa(pairs, (0, 1, 2), "quadratic"))


def test_perfect_agreement_is_one_and_undefined_kappa_is_none():
    assert kappa([(3, 3), (4, 4), (5, 5)], tuple(range(7)), "quadratic") == pytest.approx(1.0)
    assert kappa([(2, 2), (2, 2)], tuple(range(7)), "quadratic") is None
    assert kappa([], (0, 1)) is None


@pytest.mark.django_db
def test_statistician_sees_kappa_per_reader_and_site(personas, readers, randomized_subject, material_storage,
                                                     client_for):
    from adjudication.models import Case
    from adjudication.services import material_upload, read_claim, read_save
    from tests.adjudication.test_reads import MRS_ANSWERS_2, MRS_ANSWERS_3

    for site, (a, b) in (("001", (MRS_ANSWERS_2, MRS_ANSWERS_2)), ("002", (MRS_ANSWERS_3, MRS_ANSWERS_2))):
        subject = randomized_subject(site)
        who = "assessor001" if site == "001" else "coord002"
        material_upload(user=personas[who], subject=subject, category="day90_recording", uploaded=upload("a.wav", WAV))
        case = Case.objects.get(subject=subject)
        for reader, answers in zip((readers["rater3"], readers["rater1" if site == "002" else "rater2"]), (a, b),
                                   strict=True):
            read_save(user=reader, read=read_claim(user=reader, case=case), data=answers, finalize=True)
    client = client_for("statistician")
    page = client.get("/adjudication/agreement/").content.decode()
    assert "rater3" in page and "rater1" in page
    assert "C0000" in page  # the discordant case is listed
    # Only the statistician: the data manager sees status, not agreement per reader.
    assert client_for("datamanager").get("/adjudication/agreement/").status_code == 403
    assert client_for("coord001").get("/adjudication/agreement/").status_code == 403
    from adjudication.agreement_report import report

    mrs = next(m for m in report(personas["statistician"])["measures"] if m["key"] == "mrs-mrs")
    assert mrs["overall"]["n"] == 2 and mrs["overall"]["exact_percent"] == 50.0
    assert {r["reader"]: r["n"] for r in mrs["readers"]} == {"rater1": 1, "rater2": 1, "rater3": 2}
