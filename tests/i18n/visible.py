"""Visible text lines of an HTML page, and the rule of the zh-hans crawl (issue 15):
a line with an English word but no Chinese character is untranslated — unless every Latin
word of it is a code, unit, abbreviation or name (EXCEPTIONS)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
TOKEN = re.compile(r"[A-Za-zµ][A-Za-z0-9_µ'’]*")

# Latin words allowed on a Chinese page.
EXCEPTIONS = {
    # product, trial and standards
    "ANGEL", "RESCUE", "EDC", "NCT", "CDISC", "ODM", "XML", "JSON", "CONSORT", "DSMB", "CRF", "SDV", "CFR",
    "SHA", "CSV", "PDF", "XPT", "SAS", "Stata", "SPSS", "ZIP", "UTF", "IANA", "TOTP", "QR", "IP", "ID", "UTC",
    "CST", "CET", "CEST", "GMT", "English", "Microsoft", "Google", "Authenticator", "FreeOTP", "EuroQol",
    # clinical scales and abbreviations
    "NIHSS", "mRS", "ASPECTS", "pc", "eTICI", "TICI", "ICA", "MCA", "BA", "VA", "EVT", "CT", "MRI", "CTA",
    "FPCT", "GFR", "INR", "aPTT", "DOAC", "sICH", "ICH", "ECASS", "III", "SITS", "MOST", "Heidelberg",
    "Rankin", "EQ", "VAS", "AE", "SAE", "UN", "GI", "GU", "Pocock", "Simon", "HI", "PH", "LOC", "N", "n",
    # units
    "h", "min", "s", "d", "mg", "dL", "umol", "µmol", "mL", "L", "mm", "atm", "kg", "µg", "ms",
    # the demo trial's people, sites and zones (names)
    "Li", "Na", "Wang", "Wei", "Zhang", "Min", "Liu", "Yang", "Chen", "Jie", "Zhao", "Lei", "Sun", "Hui",
    "Zhou", "Qiang", "Wu", "Fang", "Beijing", "Tiantan", "Hospital", "Xuanwu", "West", "China",
    "Asia", "Shanghai", "Europe", "Berlin", "Charité",
}

BLOCK = {"p", "div", "li", "ul", "ol", "td", "th", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
         "label", "option", "button", "br", "dt", "dd", "dl", "section", "header", "footer", "nav",
         "form", "legend", "fieldset", "caption", "summary", "details", "pre", "hr", "body", "title",
         "select", "textarea", "a", "small", "strong", "span", "input"}
# Inline tags keep a line together (a sentence with a <strong> stays one line).
INLINE = {"strong", "span", "small", "em", "b", "i", "code", "abbr", "sup", "sub", "time", "a"}
SKIP = {"script", "style", "template", "noscript", "textarea"}


class _Lines(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip = 0

    def _break(self):
        line = " ".join("".join(self._current).split())
        if line:
            self.lines.append(line)
        self._current = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self._skip += 1
            return
        a = dict(attrs)
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self._break()
            self.lines.append(a["value"])
        for name in ("placeholder", "title", "aria-label"):
            if a.get(name) and not self._skip:
                self.lines.append(" ".join(a[name].split()))
        if tag in BLOCK and tag not in INLINE:
            self._break()

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag in BLOCK and tag not in INLINE:
            self._break()

    def handle_data(self, data):
        if not self._skip:
            self._current.append(data)

    def close(self):
        super().close()
        self._break()


def visible_lines(html: str) -> list[str]:
    parser = _Lines()
    parser.feed(html)
    parser.close()
    return parser.lines


def english_words(line: str) -> list[str]:
    """Latin words of a line that are not codes (words with digits), exceptions or single
    letters."""
    words = []
    for token in TOKEN.findall(line):
        token = token.strip("'’")
        if len(token) < 2 or any(ch.isdigit() for ch in token) or "_" in token:
            continue
        if token in EXCEPTIONS:
            continue
        words.append(token)
    return words


def untranslated_lines(html: str) -> list[str]:
    return [line for line in visible_lines(html) if english_words(line) and not CJK.search(line)]
