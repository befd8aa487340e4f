"""The adjudicated value beside the site's: the analysis table's rule ("adjudicated when
final, else site" with a flag) and the casebook panel for those allowed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.adjudication.conftest import WAV, upload
from tests.adjudication.test_reads import MRS_ANSWERS_2, MRS_ANSWERS_3

pytestmark = pytest.mark.django_db


def _analysis_row(subject):
    from exports.analysis import analysis_rows, analysis_sql
    from exports.dataset import Scope

    scope = Scope(site_ids=(subject.site_id,), blinded=True)
    _sql, _params, columns = analysis_sql(scope)
    names = [c.name for c in columns]
    rows = [dict(zip(names, r, strict=True)) for r in analysis_rows(scope)]
    return next(r for r in rows if r["subject_number"] == subject.number)


def _day90(personas, subject, mrs):
    from followup import services as fu

    fu.day90_save(subject=subject, user=personas["assessor001"], version=None,
                  data={"assessed_on": subject.randomized_at.date() + timedelta(days=90), "mode": "phone",
                        "respondent": "patient", "blinded_attested": True, "mrs": mrs})


def test_the_analysis_table_switches_to_the_adjudicated_value_when_final(personas, readers, randomized_subject,
                                                                         material_storage):
    from adjudication.models import Case
    from adjudication.services import material_upload, read_claim, read_save

    subject = randomized_subject("001")
    _day90(personas, subject, 2)
    row = _analysis_row(subject)
    assert (row["mrs_day90"], row["mrs_day90_adj"], row["mrs_day90_analysis"], row["mrs_day90_src"]) == (2, None, 2, "site")
    assert row["mrs_day90_0_2_analysis"] is True
    material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                    uploaded=upload("a.wav", WAV))
    case = Case.objects.get(subject=subject, kind="mrs")
    read_save(user=readers["rater2"], read=read_claim(user=readers["rater2"], case=case), data=MRS_ANSWERS_3,
              finalize=True)
    row = _analysis_row(subject)
    assert (row["mrs_day90_analysis"], row["mrs_day90_src"]) == (2, "site")  # one read: not final yet
    read_save(user=readers["rater3"], read=read_claim(user=readers["rater3"], case=case), data=MRS_ANSWERS_3,
              finalize=True)
    row = _analysis_row(subject)
    assert (row["mrs_day90"], row["mrs_day90_adj"], row["mrs_day90_analysis"], row["mrs_day90_src"]) == (2, 3, 3, "adjudicated")
    assert row["mrs_day90_0_2_analysis"] is False


def test_the_csv_analysis_table_carries_both_values_and_the_flag(personas, readers, randomized_subject,
                                                                 material_storage):
    from exports.analysis import analysis_columns
    from exports.dataset import Scope

    subject = randomized_subject("001")
    names = [c.name for c in analysis_columns(Scope(site_ids=(subject.site_id,), blinded=True))]
    assert {"mrs_day90", "mrs_day90_adj", "mrs_day90_analysis", "mrs_day90_src", "sich_heidelberg",
            "sich_heidelberg_adj", "sich_heidelberg_analysis", "sich_src"} <= set(names)


def test_casebook_shows_adjudicated_beside_site_value_only_to_those_allowed(personas, readers, randomized_subject,
                                                                           material_storage, client_for):
    from adjudication.models import Case
    from adjudication.services import material_upload, read_claim, read_save

    subject = randomized_subject("001")
    _day90(personas, subject, 2)
    material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                    uploaded=upload("a.wav", WAV))
    case = Case.objects.get(subject=subject, kind="mrs")
    for r in ("rater2", "rater3"):
        read_save(user=readers[r], read=read_claim(user=readers[r], case=case), data=MRS_ANSWERS_2 | {"mrs": "1",
                  "note": "the recording shows no disability"}, finalize=True)
    url = f"/subjects/{subject.number}/"
    body = client_for("statistician").get(url).content.decode()
    assert 'data-testid="adjudication-panel"' in body
    assert 'data-testid="site-mrs">2<' in body and 'data-testid="adj-mrs">1<' in body
    assert 'data-testid="adjudication-panel"' in client_for("datamanager").get(url).content.decode()
    for who in ("coord001", "inv001"):
        response = client_for(who).get(url)
        assert response.status_code == 200
        assert 'data-testid="adjudication-panel"' not in response.content.decode()


def test_the_joined_analysis_table_agrees_with_the_per_subject_rule(personas, readers, randomized_subject,
                                                                    material_storage):
    """The analysis table reads the final cases through one joined aggregate; the casebook's
    analysis_values() through the per-subject subqueries: the same values for every subject."""
    from adjudication.models import Case
    from adjudication.results import analysis_expressions, analysis_values
    from adjudication.services import material_upload, read_claim, read_save
    from exports.analysis import analysis_rows, analysis_sql
    from exports.dataset import Scope

    final, pending, untouched = randomized_subject("001"), randomized_subject("001"), randomized_subject("001")
    _day90(personas, final, 4)
    _day90(personas, pending, 1)
    for subject, raters in ((final, ("rater2", "rater3")), (pending, ("rater2",))):
        material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                        uploaded=upload("a.wav", WAV))
        case = Case.objects.get(subject=subject, kind="mrs")
        for rater in raters:
            read_save(user=readers[rater], read=read_claim(user=readers[rater], case=case), data=MRS_ANSWERS_2,
                      finalize=True)
    scope = Scope(site_ids=(final.site_id,), blinded=True)
    _sql, _params, columns = analysis_sql(scope)
    names = [c.name for c in columns]
    table = {r["subject_number"]: r for r in (dict(zip(names, row, strict=True)) for row in analysis_rows(scope))}
    subjects = [final, pending, untouched]
    expected = analysis_values([s.pk for s in subjects])
    for s in subjects:
        assert {k: table[s.number][k] for k in analysis_expressions()} == expected[s.pk]
    assert (table[final.number]["mrs_day90_adj"], table[final.number]["mrs_day90_analysis"],
            table[final.number]["mrs_day90_src"], table[final.number]["mrs_day90_0_2_analysis"]) == (2, 2, "adjudicated", True)
    assert (table[pending.number]["mrs_day90_adj"], table[pending.number]["mrs_day90_src"]) == (None, "site")
    assert table[untouched.number]["mrs_day90_src"] is None
