"""Unit words of ranges read in the reader's language (issue 15): "0–120 years" is "0–120 岁"
in the screening form's help, its unusual-value warning and the data dictionary; unit
symbols (×10⁹/L, mL/min, s) stay as they are."""

import pytest
from django.urls import reverse
from django.utils import translation

from core import protocol as P
from eligibility import validation

pytestmark = pytest.mark.django_db


def test_the_age_range_and_its_warning_carry_the_unit_word_in_chinese():
    with translation.override("zh-hans"):
        assert validation.range_text("age_years") == "0–120 岁"
        (message,) = [m for f, m in validation.unusual_by_field({"age_years": 105}) if f == "age_years"]
        shown = str(message)  # a Message (msgid + parameters), shown in the current language
        assert "105 岁" in shown and "years" not in shown
        assert validation.range_text("gfr").endswith("mL/min")  # a symbol stays
    with translation.override("en"):
        assert validation.range_text("age_years") == "0–120 years"
        assert str(P.RANGES["age_years"].unit) == "years"


def test_the_data_dictionary_page_shows_ranges_with_chinese_unit_words(client_for):
    client = client_for("statistician")
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("exports:dictionary")).content.decode()
    assert "0–120 岁" in page and "0–120 years" not in page
