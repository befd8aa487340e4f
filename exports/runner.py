"""Build the files of one export into a directory and bundle them into a ZIP.

Layout of the bundle (every export, whatever formats were chosen):
    README.txt                 who, when, blinded or not, sites, forms, row counts, checksums
    dictionary.csv             the data dictionary of exactly these tables
    csv/<form>.csv, csv/analysis.csv
    odm/angel_rescue.xml
    xpt|dta|sav/<form>.<ext>, …/analysis.<ext> (xpt also formats.sas, formats.xpt, README.txt)
    datasetjson/<form>.json, datasetjson/analysis.json
    define/define.xml
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

from django.utils import translation

from exports import metadata
from exports.analysis import analysis_columns, analysis_sql
from exports.columns import Table, tables
from exports.dataset import Scope, table_sql
from exports.dictionary import chinese_columns, table_groups
from exports.formats import csv_format
from exports.formats.datasetjson import analysis_json_rows, table_json_rows, write_dataset
from exports.formats.define import write_define
from exports.formats.odm import write_odm
from exports.formats.stat_files import SasFormats, XptLayout, write_stat, write_xpt

Progress = Callable[[float, str], None]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(*, scope: Scope, formats: list[str], directory: Path, file_oid: str,
          progress: Progress | None = None) -> dict[str, dict[str, int]]:
    """Write every chosen format into `directory`; returns row counts per format and table."""
    progress = progress or (lambda fraction, step: None)
    chosen = tables(blinded=scope.blinded, codes=scope.form_codes)
    units = len(formats) * (len(chosen) + 1) + 1
    done = 0
    counts: dict[str, dict[str, int]] = {}

    def step(label: str, n: float = 1.0):
        nonlocal done
        done += n
        progress(min(done / units, 0.99), label)

    directory.mkdir(parents=True, exist_ok=True)
    with translation.override("en"):  # English reference labels, Chinese ones beside them
        csv_format.write_dictionary(tables(blinded=scope.blinded, codes=scope.form_codes), scope,
                                    directory / "dictionary.csv")
    step("Data dictionary")
    for fmt in formats:
        if fmt == "csv":
            counts["csv"] = _csv(chosen, scope, directory / "csv", step)
        elif fmt == "odm":
            (directory / "odm").mkdir(exist_ok=True)
            base = done

            def odm_progress(fraction, label, base=base):
                nonlocal done
                done = base + fraction * len(chosen)
                progress(min(done / units, 0.99), label)

            counts["odm"] = write_odm(chosen, scope, directory / "odm" / "angel_rescue.xml",
                                      file_oid=file_oid, progress=odm_progress)
            done = base + len(chosen)
            step("ODM done")
        elif fmt in ("xpt", "dta", "sav"):
            counts[fmt] = _stat(fmt, chosen, scope, directory / fmt, step)
        elif fmt == "datasetjson":
            counts[fmt] = _datasetjson(chosen, scope, directory / "datasetjson", file_oid, step)
        elif fmt == "define":
            (directory / "define").mkdir(exist_ok=True)
            with translation.override("en"):  # English reference texts, Chinese beside them
                english = tables(blinded=scope.blinded, codes=scope.form_codes)
                repeating = {t.code: t.crf.repeating for t in english}
                groups = [(code, label, cols, repeating.get(code, False))
                          for code, label, cols in table_groups(english, scope)]
                counts[fmt] = {"ITEMDEFS": write_define(
                    groups, directory / "define" / "define.xml", file_oid=file_oid,
                    blinded=scope.blinded, chinese=chinese_columns(english, scope))}
            step("Define-XML", len(chosen) + 1)
        else:
            raise ValueError(f"Unknown export format {fmt!r}; expected csv, odm, xpt, dta, sav, "
                             f"datasetjson or define.")
    return counts


# Tables are written on this many database connections at once (CSV by COPY, the other
# formats from server-side cursors): PostgreSQL does most of the work, so two connections
# keep two cores busy.
CSV_WORKERS = 2


def _csv_write(job) -> int:
    kind, table, scope, path = job
    if kind == "analysis":
        return csv_format.write_analysis(scope, path)
    return csv_format.write_table(table, scope, path)


def _parallel(jobs: list[Callable[[], object]]) -> tuple[list, list]:
    """Run the jobs on CSV_WORKERS threads, each with ONE database connection for all the jobs
    it takes (a new PostgreSQL session per table would cost more than a small table's COPY),
    in the caller's language; the last job (the analysis table, the longest query) starts
    first. Returns (futures in job order, threads to join)."""
    import queue
    import threading
    from concurrent.futures import Future

    language = translation.get_language()
    futures = [Future() for _ in jobs]
    pending: queue.SimpleQueue = queue.SimpleQueue()
    order = list(enumerate(jobs))
    for item in order[-1:] + order[:-1]:
        pending.put(item)

    def drain() -> None:
        from django.db import connection

        try:
            with translation.override(language):
                while True:
                    try:
                        i, job = pending.get_nowait()
                    except queue.Empty:
                        return
                    if not futures[i].set_running_or_notify_cancel():
                        continue
                    try:
                        futures[i].set_result(job())
                    except BaseException as exc:  # handed to the caller through the future
                        futures[i].set_exception(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, name=f"export-{n}", daemon=True) for n in range(CSV_WORKERS)]
    for thread in threads:
        thread.start()
    return futures, threads


def _in_order(jobs: list[Callable[[], object]], labels: list[str], step) -> list:
    """The results of the jobs, in order, reporting progress from this (the task's) thread.
    Inside a transaction (a caller's, or a test's) other connections would not see its rows:
    then the jobs run on this connection, one after the other."""
    from django.db import connection

    if connection.in_atomic_block:
        out = []
        for job, label in zip(jobs, labels, strict=True):
            out.append(job())
            step(label)
        return out
    futures, threads = _parallel(jobs)
    out = []
    try:
        for future, label in zip(futures, labels, strict=True):
            out.append(future.result())
            step(label)
    finally:
        for f in futures:
            f.cancel()  # after a failure or a cancelled export: start no further table
        for thread in threads:
            thread.join()
    return out


def _csv(chosen: list[Table], scope: Scope, out: Path, step) -> dict[str, int]:
    out.mkdir(exist_ok=True)
    jobs = [("form", t, scope, out / f"{t.filename}.csv") for t in chosen]
    jobs.append(("analysis", None, scope, out / "analysis.csv"))
    labels = [f"CSV: {t.label}" for t in chosen] + ["CSV: analysis table"]
    codes = [t.code for t in chosen] + ["ANALYSIS"]
    results = _in_order([lambda j=j: _csv_write(j) for j in jobs], labels, step)
    return dict(zip(codes, results, strict=True))


def _stat(fmt: str, chosen: list[Table], scope: Scope, out: Path, step) -> dict[str, int]:
    out.mkdir(exist_ok=True)
    if fmt == "xpt":
        return _xpt(chosen, scope, out, step)
    cut: dict[str, dict[str, int]] = {t.code: {} for t in chosen}
    cut["ANALYSIS"] = {}
    jobs = [lambda t=t: write_stat(fmt, list(t.columns), table_sql(t, scope), out / f"{t.filename}.{fmt}",
                                   table_label=t.label, table_name=t.code, cut=cut[t.code])
            for t in chosen]
    columns = analysis_columns(scope)
    jobs.append(lambda: write_stat(fmt, columns, _analysis_source(scope), out / f"analysis.{fmt}",
                                   table_label="Analysis table", table_name="ANALYSIS",
                                   cut=cut["ANALYSIS"]))
    labels = [f"{fmt.upper()}: {t.label}" for t in chosen] + [f"{fmt.upper()}: analysis table"]
    counts = dict(zip(list(cut), _in_order(jobs, labels, step), strict=True))
    package = {"dta": "Stata 14+ (format 118)", "sav": "SPSS (system file, UTF-8)"}[fmt]
    lines = [f"{package}: one file per table. Types, widths and formats come from the data",
             "dictionary (dictionary.csv), never from the data: every number and every coded",
             "variable is numeric (value labels attached), dates and instants are numeric with a",
             "date format, every text variable has its declared byte width (UTF-8): the",
             f"field's maximum length × 3 bytes, or {metadata.FREE_TEXT_BYTES} bytes for free text.",
             metadata.TIME_CONVENTION, "",
             "Values cut at the declared width (complete in CSV, ODM and Dataset-JSON):"]
    cuts = [(code, name, n) for code, names in cut.items() for name, n in names.items()]
    lines += [f"  {code.lower()}.{name}: {n} value(s)" for code, name, n in cuts] or ["  none"]
    (out / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def _analysis_source(scope: Scope):
    sql, params, _columns = analysis_sql(scope)
    return sql, params


def _xpt(chosen: list[Table], scope: Scope, out: Path, step) -> dict[str, int]:
    """SAS V5 files, the format catalogue and a README naming split and cut variables."""
    sas = SasFormats()
    specs = [(t.code, t.label, list(t.columns), t.filename, lambda t=t: table_sql(t, scope))
             for t in chosen]
    specs.append(("ANALYSIS", "Analysis table", analysis_columns(scope), "analysis",
                  lambda: _analysis_source(scope)))
    # The layouts (and so the SAS format names) are made here, in table order: the same names
    # in every export whichever table a worker writes first.
    layouts = {code: XptLayout(code, columns, sas) for code, _l, columns, _f, _s in specs}
    jobs = [lambda code=code, label=label, columns=columns, filename=filename, source=source:
            write_xpt(code, columns, source(), out / f"{filename}.xpt", table_label=label,
                      sas_formats=sas, layout=layouts[code])[0]
            for code, label, columns, filename, source in specs]
    results = _in_order(jobs, [f"XPT: {label}" for _c, label, *_rest in specs], step)
    counts = dict(zip(layouts, results, strict=True))
    sas.write(out)
    lines = ["SAS transport files, version 5 (one data set per file; libname x xport 'file.xpt').",
             "Names of at most 8 characters and labels of at most 40 bytes, from the data",
             "dictionary (dictionary.csv: columns sas_dataset, sas_name; full labels there).",
             "Text is UTF-8. Character variables hold at most 200 bytes: a longer variable is",
             "split into pieces NAME, NAME1, NAME2… (concatenate them in order).",
             metadata.TIME_CONVENTION, "", "Split variables:"]
    for code, layout in layouts.items():
        for name, parts in layout.split.items():
            lines.append(f"  {metadata.dataset_name(code)}.{name}: {' + '.join(parts)}")
    lines += ["", "Values cut at the declared width (complete in CSV, ODM and Dataset-JSON):"]
    cut = [(code, name, n) for code, layout in layouts.items() for name, n in layout.cut.items()]
    lines += [f"  {metadata.dataset_name(code)}.{name}: {n} value(s)" for code, name, n in cut] \
        or ["  none"]
    (out / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def _datasetjson(chosen: list[Table], scope: Scope, out: Path, file_oid: str, step) -> dict[str, int]:
    out.mkdir(exist_ok=True)
    jobs = [lambda t=t: write_dataset(t.code, t.label, list(t.columns), table_json_rows(t, scope),
                                      out / f"{t.filename}.json", file_oid=file_oid)
            for t in chosen]
    columns = analysis_columns(scope)
    jobs.append(lambda: write_dataset("ANALYSIS", "Analysis table", columns, analysis_json_rows(scope),
                                      out / "analysis.json", file_oid=file_oid))
    labels = [f"Dataset-JSON: {t.label}" for t in chosen] + ["Dataset-JSON: analysis table"]
    codes = [t.code for t in chosen] + ["ANALYSIS"]
    return dict(zip(codes, _in_order(jobs, labels, step), strict=True))


def bundle(directory: Path, target: Path, readme: str) -> None:
    """ZIP every file of `directory` (streamed from disk) with a README listing checksums."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    lines = [readme, "", "Files (SHA-256):"]
    for p in files:
        lines.append(f"  {sha256_of(p)}  {p.relative_to(directory).as_posix()}")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                         allowZip64=True) as zf:
        zf.writestr("README.txt", "\n".join(lines) + "\n")
        for p in files:
            zf.write(p, p.relative_to(directory).as_posix())
