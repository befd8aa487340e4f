"""Our streaming Stata (118) and SPSS writers (issue 13): types, widths and formats come from
the data dictionary, never from the data; long text round-trips (SPSS very long strings,
Chinese), text beyond the declared width is cut at a character boundary and counted; the
files open in pyreadstat and pandas."""

import zipfile

import pandas as pd
import pyreadstat
import pytest

from tests.exports.test_submission import LONG_TEXT, _columns, _csv, _extract

pytestmark = pytest.mark.django_db

READERS = {"dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav}
# 1,205 bytes: more than the 1,000 declared for free text, a 3-byte character across the cut.
TOO_LONG = "ab" + "拒绝参加" * 100 + "完"


def _layout(bundle, fmt, tmp_path) -> dict:
    """Everything a reader says about each variable of each file, but the values."""
    out = {}
    for name in sorted(n for n in bundle.namelist() if n.startswith(f"{fmt}/") and n.endswith(f".{fmt}")):
        _df, meta = READERS[fmt](_extract(bundle, name, tmp_path), metadataonly=True)
        out[name] = {v: (meta.readstat_variable_types[v], meta.original_variable_types[v],
                         meta.variable_storage_width[v], label, meta.variable_to_label.get(v))
                     for v, label in zip(meta.column_names, meta.column_labels, strict=True)}
    return out


def _close(personas, sites, text):
    from eligibility.services import screening_close
    from tests.factories import make_screening

    s = make_screening(site=sites["001"], coordinator=personas["coord001"])
    return screening_close(screening=s, user=personas["coord001"], reason="other", text=text)


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_types_widths_and_formats_come_from_the_dictionary_not_the_data(
        fmt, study, personas, sites, run_export, tmp_path):
    from exports import metadata
    from exports.formats.stat_coding import is_numeric

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    first = _layout(zipfile.ZipFile(run_export(personas["datamanager"], [fmt]).path), fmt, tmp_path / "a")
    # Different data: long Chinese free text, another screening, a follow-up form.
    _close(personas, sites, LONG_TEXT)
    from followup import services as fu

    fu.visit24h_save(subject=study["subjects"][5], user=personas["coord002"],
                     data={"nihss_i1a": 1}, version=None)
    second = _layout(zipfile.ZipFile(run_export(personas["datamanager"], [fmt]).path), fmt, tmp_path / "b")
    # Site 003 has no data: every table is empty.
    empty = _layout(zipfile.ZipFile(run_export(personas["datamanager"], [fmt],
                                               site_ids=[sites["003"].pk]).path), fmt, tmp_path / "c")
    assert first == second == empty
    columns = _columns(blinded=True)
    checked = 0
    for name, variables in first.items():
        code = "ANALYSIS" if name.endswith(f"analysis.{fmt}") else name.split("/")[1].split(".")[0].upper()
        by_name = {c.name: c for c in columns[code]}
        assert set(variables) == set(by_name), name
        for var, (kind, _form, width, _label, _vl) in variables.items():
            c = by_name[var]
            if is_numeric(c) or c.kind in ("date", "datetime"):
                assert kind == "double", (name, var, kind)
            else:
                # (ReadStat counts a Stata str#'s terminating NUL in its storage width)
                assert kind == "string" and width == metadata.text_bytes(c) + (fmt == "dta"), \
                    (name, var, width)
                checked += 1
    assert checked > 40
    screening = first[f"{fmt}/screening.{fmt}"]
    assert screening["closed_reason_text"][2] == metadata.FREE_TEXT_BYTES + (fmt == "dta")
    assert screening["sex"][4]  # value labels attached, whatever the data
    dates = {"dta": ("%td", "%tcCCYY-NN-DD_HH:MM:SS"), "sav": ("DATE11", "DATETIME20")}[fmt]
    assert empty[f"{fmt}/death.{fmt}"]["died_on"][1] == dates[0]
    assert empty[f"{fmt}/screening.{fmt}"]["last_known_well"][1] == dates[1]


@pytest.mark.parametrize("fmt", ["dta", "sav", "xpt"])
def test_long_text_round_trips_and_text_beyond_the_declared_width_is_cut_and_counted(
        fmt, study, personas, sites, run_export, tmp_path):
    long_ = _close(personas, sites, LONG_TEXT)
    cut = _close(personas, sites, TOO_LONG)
    bundle = zipfile.ZipFile(run_export(personas["datamanager"], ["csv", fmt]).path)
    csv_rows = {r["number"]: r for r in _csv(bundle, "csv/screening.csv")}
    assert csv_rows[cut.number]["closed_reason_text"] == TOO_LONG  # complete in CSV
    path = _extract(bundle, f"{fmt}/screening.{fmt}", tmp_path)
    if fmt == "xpt":
        df, _meta = pyreadstat.read_xport(path, encoding="utf-8")
        pieces = ["CLSRSTX", "CLSRSTX1", "CLSRSTX2", "CLSRSTX3", "CLSRSTX4"]
        df["closed_reason_text"] = df[pieces].fillna("").agg("".join, axis=1)
        df["number"] = df["NUMBER"]
        frames = [df]
    else:
        df, _meta = READERS[fmt](path)
        frames = [df, pd.read_stata(path) if fmt == "dta" else pyreadstat.read_sav(path)[0]]
    kept = TOO_LONG.encode()[:1000].decode("utf-8", errors="ignore")
    assert len(kept.encode()) == 998  # cut before the character the 1,000th byte falls in
    for frame in frames:
        texts = dict(zip(frame["number"], frame["closed_reason_text"], strict=True))
        assert len(texts) == len(csv_rows)
        assert texts[long_.number] == LONG_TEXT
        if fmt == "xpt":  # five pieces of 200 bytes, each cut at a character boundary
            got = texts[cut.number]
            assert TOO_LONG.startswith(got) and 1000 - 5 * 2 <= len(got.encode()) <= 1000, len(got.encode())
        else:
            assert texts[cut.number] == kept
        for number, row in csv_rows.items():
            if number != cut.number:
                assert texts[number] == row["closed_reason_text"], number
    readme = bundle.read(f"{fmt}/README.txt").decode()
    listed = "SCREEN.closed_reason_text: 1 value(s)" if fmt == "xpt" else "screening.closed_reason_text: 1 value(s)"
    assert listed in readme, readme


@pytest.mark.django_db(transaction=True)
def test_tables_written_on_two_connections_equal_those_written_on_one(study, sites, tmp_path, monkeypatch):
    """Outside a transaction the tables are written by two workers with their own database
    connections (the analysis table first); the files say the same as those written one after
    the other on one connection (inside a transaction)."""
    import json

    from django.db import transaction

    from exports import runner
    from exports.dataset import Scope

    calls = []
    parallel = runner._parallel
    monkeypatch.setattr(runner, "_parallel", lambda jobs: calls.append(len(jobs)) or parallel(jobs))
    scope = Scope(blinded=False, site_ids=(sites["001"].pk, sites["002"].pk))
    formats = ["xpt", "dta", "sav", "datasetjson"]
    counts = runner.build(scope=scope, formats=formats, directory=tmp_path / "two", file_oid="t")
    assert len(calls) == len(formats)
    with transaction.atomic():
        assert runner.build(scope=scope, formats=formats, directory=tmp_path / "one", file_oid="t") == counts
    assert len(calls) == len(formats)  # inside the transaction: one connection
    assert counts["dta"]["SCREENING"] > 0 and counts["dta"]["ANALYSIS"] == len(study["subjects"])
    readers = {"xpt": pyreadstat.read_xport, **READERS}
    compared = 0
    for path in sorted((tmp_path / "one").rglob("*.*")):
        twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
        ext = path.suffix.lstrip(".")
        if ext in readers:
            a, ma = readers[ext](str(path))
            b, mb = readers[ext](str(twin))
            pd.testing.assert_frame_equal(a, b)
            assert (ma.column_labels, ma.original_variable_types, ma.variable_value_labels) == \
                (mb.column_labels, mb.original_variable_types, mb.variable_value_labels)
            compared += 1
        elif ext == "json":
            a, b = json.loads(path.read_text()), json.loads(twin.read_text())
            assert a["rows"] == b["rows"] and a["columns"] == b["columns"]
            compared += 1
        elif ext in ("txt", "sas", "csv"):
            assert path.read_bytes() == twin.read_bytes(), path
    assert compared >= 4 * 10
