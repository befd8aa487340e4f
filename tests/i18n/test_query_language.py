"""Queries opened by edit checks are shown in the reader's language (issue 15): the query keeps
its msgid and parameters beside the English text; rows stored before keep their text."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from datamanagement.models import Query, QueryMessage
from followup import services as fu
from tests.i18n.visible import CJK
from tests.integrity import conftest as integrity
from tests.integrity.conftest import nihss

pytestmark = pytest.mark.django_db
allocation_list, make_subject = integrity.allocation_list, integrity.make_subject  # fixtures


def _late_v2(subject, coord):
    data = {"assessed_at": subject.randomized_at + timedelta(hours=40), **nihss()}  # window T0+18 h … T0+30 h
    return fu.visit24h_save(subject=subject, user=coord, data=data, version=None)


def test_a_window_query_reads_in_chinese_for_a_chinese_reader_and_in_english_for_others(
        make_subject, personas, client_for):
    subject = make_subject(timezone.now() - timedelta(hours=50))
    _late_v2(subject, personas["coord001"])
    q = Query.objects.get(crf_code="V2_24H", check_code="VISIT_WINDOW")
    assert q.text.startswith("V2 at T0+40.0 h") and "outside its window T0+18 h … T0+30 h" in q.text
    with translation.override("zh-hans"):
        zh = q.shown_text
    assert "V2 于 T0+40.0 小时" in zh and "超出其时间窗 T0+18 小时 … T0+30 小时" in zh
    with translation.override("en"):
        assert q.shown_text == q.text
    client = client_for("coord001")
    client.cookies["django_language"] = "zh-hans"
    for url in ("/data/queries/", f"/data/queries/{q.pk}/"):
        page = client.get(url).content.decode()
        assert "超出其时间窗" in page and "outside its window" not in page, url


def test_an_edit_check_failure_is_shown_in_the_language_of_the_page(make_subject, personas):
    from datamanagement.services import validate_crf

    subject = make_subject(timezone.now() - timedelta(hours=50))
    row = _late_v2(subject, personas["coord001"])
    row.nihss_i1a = 7
    with translation.override("zh-hans"):
        result = validate_crf(instance=row)
    hard = {f.field: f.message for f in result.hard}
    assert hard["nihss_i1a"] == "NIHSS 条目 1a：允许 0–3，实际为 7。"
    assert CJK.search(result.soft[0].message) and CJK.search(str(result.soft[0].rule))


def test_a_query_stored_before_msgids_existed_still_shows_its_text(make_subject, personas):
    subject = make_subject(timezone.now() - timedelta(hours=50))
    _late_v2(subject, personas["coord001"])
    q = Query.objects.get(crf_code="V2_24H", check_code="VISIT_WINDOW")
    Query.objects.filter(pk=q.pk).update(text_msgid="", text_params={})  # as a row of the earlier schema
    QueryMessage.objects.filter(query=q).update(text_msgid="", text_params={})
    q.refresh_from_db()
    with translation.override("zh-hans"):
        assert q.shown_text == q.text and q.messages.get(kind="open").shown_text == q.text
    # a msgid whose parameters no longer match its catalogue entry also falls back to the text
    Query.objects.filter(pk=q.pk).update(text_msgid=q.text + " %(gone)s", text_params={})
    q.refresh_from_db()
    assert q.shown_text == q.text


def test_the_bounds_of_every_value_speak_the_language_of_the_page():
    import datetime as dt

    from core import bounds

    now = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    with translation.override("zh-hans"):
        assert bounds.value_problem(dt.date(1, 1, 1), now=now) == "不得早于 1900-01-01；实际为 0001-01-01。"
        assert CJK.search(bounds.value_problem("a\x00b", now=now))
        assert CJK.search(bounds.value_problem(now + dt.timedelta(days=2), now=now))
    with translation.override("en"):
        assert bounds.value_problem(dt.date(1, 1, 1), now=now) == "must be on or after 1900-01-01; found 0001-01-01."


def test_an_unusual_screening_value_saved_in_english_reads_in_chinese(personas, sites):
    """The screening's unusual-value check (eligibility.validation) stores its message as msgid
    and parameters — the field label and the unit word too — so a query opened while an
    English-speaking coordinator saved reads in Chinese for a Chinese reader."""
    from eligibility.services import screening_create
    from tests.factories import eligible_screening_data

    with translation.override("en"):
        s = screening_create(site=sites["001"], user=personas["coord001"], data=eligible_screening_data(age_years=104))
    q = Query.objects.get(object_id=s.pk, field_name="age_years", check_code="UNUSUAL_VALUE")
    assert q.text.startswith("Age 104 years is unusual") and q.text_msgid
    with translation.override("zh-hans"):
        zh = q.shown_text
    assert CJK.search(zh) and "104" in zh and "Age" not in zh and "years" not in zh, zh
    with translation.override("en"):
        assert q.shown_text == q.text
