"""Exports label values in Chinese on request; codes and variable names stay the same; the data
dictionary carries Chinese labels beside the English ones."""

import csv
import io
import zipfile

import pyreadstat
import pytest

from tests.exports.conftest import run_export, study  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _sav(export, tmp_path, name="screening"):
    target = tmp_path / f"{name}-{export.label_language}.sav"
    target.write_bytes(zipfile.ZipFile(export.path).read(f"sav/{name}.sav"))
    return pyreadstat.read_sav(str(target))


def test_spss_value_and_variable_labels_in_chinese_on_request(study, personas, run_export, tmp_path):  # noqa: F811
    en_df, en = _sav(run_export(personas["datamanager"], ["sav"]), tmp_path)
    zh_df, zh = _sav(run_export(personas["datamanager"], ["sav"], label_language="zh-hans"), tmp_path)
    assert list(zh_df.columns) == list(en_df.columns)  # variable names are language-neutral
    assert zh_df["sex"].tolist() == en_df["sex"].tolist()  # so are the codes
    labels = dict(zip(zh.column_names, zh.column_labels, strict=True))
    assert labels["age_years"] == "年龄（岁）"
    assert dict(zip(en.column_names, en.column_labels, strict=True))["age_years"] == "Age (years)"
    assert zh.variable_value_labels["sex"] == {1: "女", 2: "男"}
    assert en.variable_value_labels["sex"] == {1: "Female", 2: "Male"}


def test_dictionary_csv_has_chinese_beside_english(study, personas, run_export):  # noqa: F811
    export = run_export(personas["datamanager"], ["csv"], label_language="zh-hans")
    raw = zipfile.ZipFile(export.path).read("dictionary.csv").decode("utf-8-sig")
    rows = {(r["table"], r["variable"]): r for r in csv.DictReader(io.StringIO(raw))}
    age = rows[("screening", "age_years")]
    assert age["label"] == "Age (years)" and age["label_zh"] == "年龄（岁）"
    sex = rows[("screening", "sex")]
    assert sex["allowed_values"] == "female = Female; male = Male"
    assert sex["allowed_values_zh"] == "female = 女; male = 男"
    item = rows[("screening", "nihss_i1a")] if ("screening", "nihss_i1a") in rows else None
    assert item is None or "意识水平" in item["label_zh"]


def test_unknown_label_language_is_refused_with_a_message(study, personas):  # noqa: F811
    from exports.exceptions import ExportInvalid
    from exports.services import export_request

    with pytest.raises(ExportInvalid, match="Label language: klingon"):
        export_request(user=personas["datamanager"], formats=["csv"], label_language="klingon", dispatch=False)
