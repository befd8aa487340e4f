"""REDCap's three response formats (json, csv, xml), written incrementally.

Every generator here yields text chunks of about CHUNK characters, so a streamed response
sends rows as they are produced and never holds the whole body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape

from core.csvsafe import neutralise  # the OWASP rule every CSV writer applies

CHUNK = 64 * 1024
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "xml": "text/xml; charset=utf-8"}


def _text(v) -> str:
    return "" if v is None else str(v)


def _cdata(v) -> str:
    return "<![CDATA[" + _text(v).replace("]]>", "]]]]><![CDATA[>") + "]]>"


_CSV_QUOTE = re.compile(r'[,"\n\r]')


def _csv_cell(v) -> str:
    """A cell as csv.writer (QUOTE_MINIMAL) writes it, except that a carriage return alone
    also makes it quoted: csv.writer with a "\n" line terminator leaves a bare CR unquoted,
    and CSV readers (pandas, R's read.csv) take that for the end of the row. The cell is
    quoted, as in PostgreSQL's CSV, when it holds a comma, a quote, LF or CR."""
    text = _text(v)
    if _CSV_QUOTE.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Iterable) -> str:
    """One CSV line (with its "\n") of the cells, as written, not neutralised (a header)."""
    return ",".join(_csv_cell(c) for c in cells) + "\n"


def csv_chunks(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    parts = [csv_line(header)]
    size = len(parts[0])
    for row in rows:
        line = csv_line(neutralise(v) if isinstance(v, str) else v for v in row)
        parts.append(line)
        size += len(line)
        if size >= CHUNK:
            yield "".join(parts)
            parts, size = [], 0
    yield "".join(parts)


def json_chunks(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    parts = ["["]
    size = 1
    first = True
    for row in rows:
        item = json.dumps({k: _text(v) for k, v in zip(header, row, strict=True)}, ensure_ascii=False)
        parts.append(item if first else "," + item)
        first = False
        size += len(item) + 1
        if size >= CHUNK:
            yield "".join(parts)
            parts, size = [], 0
    parts.append("]")
    yield "".join(parts)


def xml_chunks(header: list[str], rows: Iterable[list], root: str = "records") -> Iterator[str]:
    parts = [f'<?xml version="1.0" encoding="UTF-8" ?>\n<{root}>\n']
    size = 0
    for row in rows:
        item = "<item>" + "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in zip(header, row, strict=True)) \
            + "</item>\n"
        parts.append(item)
        size += len(item)
        if size >= CHUNK:
            yield "".join(parts)
            parts, size = [], 0
    parts.append(f"</{root}>\n")
    yield "".join(parts)


def chunks(fmt: str, header: list[str], rows: Iterable[list]) -> Iterator[str]:
    if fmt == "csv":
        return csv_chunks(header, rows)
    if fmt == "xml":
        return xml_chunks(header, rows)
    return json_chunks(header, rows)


def dict_rows(fmt: str, columns: list[str], items: list[dict]) -> str:
    return "".join(chunks(fmt, columns, ([item.get(c, "") for c in columns] for item in items)))


def single(fmt: str, item: dict) -> str:
    """One object (content=project): a JSON object, a one-row CSV, an XML item."""
    if fmt == "json":
        return json.dumps(item, ensure_ascii=False)
    if fmt == "xml":
        body = "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in item.items())
        return f'<?xml version="1.0" encoding="UTF-8" ?>\n<item>{body}</item>\n'
    return "".join(csv_chunks(list(item), [list(item.values())]))


def error_body(fmt: str, message: str, fields: list | None = None) -> tuple[str, str]:
    """REDCap's error in the requested format: {"error": …}, "ERROR: …" or <hash><error>…
    (JSON also lists each refused field and rule under "fields")."""
    if fmt == "json":
        body = {"error": message, **({"fields": fields} if fields else {})}
        return json.dumps(body, ensure_ascii=False), CONTENT_TYPES["json"]
    if fmt == "csv":
        return f"ERROR: {message}\n", CONTENT_TYPES["csv"]
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<hash>\n<error>{escape(message)}</error>\n</hash>\n',
            CONTENT_TYPES["xml"])
