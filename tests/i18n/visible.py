"""Visible text lines of an HTML page, and the rule of the zh-hans crawl (issue 15):
a line with an English word but no Chinese character is untranslated — unless every Latin
word of it is a code, unit, abbreviation or name (EXCEPTIONS)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
TOKEN = re.compile(r"[A-Za-z0-9µ][A-Za-z0-9_µ'’./@-]*")

# Latin words allowed on a Chinese page.
EXCEPTIONS = {
    # product, trial and standards
    "ANGEL", "RESCUE", "EDC", "NCT", "CDISC", "ODM", "XML", "JSON", "CONSORT", "DSMB", "CRF", "SDV", "CFR",
    "SHA", "CSV", "PDF", "XPT", "SAS", "Stata", "SPSS", "ZIP", "UTF", "IANA", "TOTP", "QR", "IP", "ID", "UTC",
    "CST", "CET", "CEST", "GMT", "English", "Microsoft", "Google", "Authenticator", "FreeOTP", "EuroQol",
    # clinical scales and abbreviations
    "NIHSS", "mRS", "ASPECTS", "pc", "eTICI", "TICI", "ICA", "MCA", "BA", "VA", "EVT", "CT", "MRI", "CTA",
    "ct", "mri", "FPCT", "GFR", "INR", "aPTT", "DOAC", "sICH", "ICH", "ECASS", "III", "SITS", "MOST", "Heidelberg",
    "Rankin", "EQ", "VAS", "AE", "SAE", "UN", "GI", "GU", "Pocock", "Simon", "HI", "PH", "LOC", "N", "n",
    # units
    "h", "min", "s", "d", "mg", "dL", "umol", "µmol", "mL", "L", "mm", "atm", "kg", "µg", "ms",
    # the demo trial's people, sites and zones (names)
    "Li", "Na", "Wang", "Wei", "Zhang", "Min", "Liu", "Yang", "Chen", "Jie", "Zhao", "Lei", "Sun", "Hui",
    "Zhou", "Qiang", "Wu", "Fang", "Beijing", "Tiantan", "Hospital", "Xuanwu", "West", "China",
    "Asia", "Shanghai", "Europe", "Berlin", "Charité",
    # user names (people's log-in names)
    "monitor", "datamanager", "statistician", "admin", "system",
    # file types
    "dta", "sav", "xpt", "csv", "json", "xml", "pdf", "zip",
}

BLOCK = {"p", "div", "li", "ul", "ol", "td", "th", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
         "label", "option", "button", "br", "dt", "dd", "dl", "section", "header", "footer", "nav",
         "form", "legend", "fieldset", "caption", "summary", "details", "pre", "hr", "body", "title",
         "select", "textarea", "a", "small", "strong", "span", "input"}
# Inline tags keep a line together (a sentence with a <strong> stays one line).
INLINE = {"strong", "span", "small", "em", "b", "i", "code", "abbr", "sup", "sub", "time", "a"}
# Not text a person reads as prose: scripts, and <code> (variable names, form codes).
SKIP = {"script", "style", "template", "noscript", "textarea", "code"}


VOID = {"input", "br", "hr", "img", "meta", "link", "source", "wbr", "area", "col", "embed"}


class _Lines(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip = 0
        self._skipping: list[str] = []

    def _break(self):
        line = " ".join("".join(self._current).split())
        if line:
            self.lines.append(line)
        self._current = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in SKIP or a.get("translate") == "no":
            # translate="no" (HTML): recorded data shown as written, e.g. the audit trail's
            # stored summaries and reasons, people's user names.
            if tag not in VOID:
                self._skip += 1
                self._skipping.append(tag)
            return
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
        if self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()
            self._skip -= 1
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


def _demo_names() -> set[str]:
    """People's names and user names of the demo trial (core.demo): names, not words."""
    from core.demo import ACCOUNTS

    return {part for username, first, last, *_rest in ACCOUNTS for part in (username, first, last)}


EXCEPTIONS |= _demo_names()


def english_words(line: str) -> list[str]:
    """Latin words of a line that are not codes (words with digits), exceptions or single
    letters."""
    words = []
    for token in TOKEN.findall(line):
        token = token.strip("'’.-/")
        if any(ch.isdigit() for ch in token) or "_" in token:
            continue  # a code: 001-S0007, V5, 2b50, nihss_i5a, seed-coord003
        if "@" in token or "@" in line.split(token, 1)[-1][:1]:
            continue  # an e-mail address (a name)
        for part in re.split(r"[./-]", token):
            if len(part) >= 2 and part not in EXCEPTIONS:
                words.append(part)
    return words


def untranslated_lines(html: str) -> list[str]:
    return [line for line in visible_lines(html) if english_words(line) and not CJK.search(line)]
