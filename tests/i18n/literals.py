"""Find user-visible literal text in Django templates that is not inside {% translate %} or
{% blocktranslate %} (issue 15: "a test fails on any trans-less literal text in templates").

Visible text = the text between HTML tags, and the values of the attributes a user reads
(title, placeholder, alt, aria-label, value of buttons). Script and style bodies, comments and
template variables/tags are not text. A run of text counts as a literal when it contains a
Latin word that is not one of the EXCEPTIONS (codes, units, abbreviations, product names).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import Lexer, TokenType

# Words that are the same in every language: codes, units, abbreviations, names.
EXCEPTIONS = {
    "ANGEL", "RESCUE", "EDC", "NIHSS", "mRS", "ASPECTS", "pc", "eTICI", "ICA", "MCA", "M1", "V4",
    "BA", "EVT", "CT", "MRI", "GFR", "INR", "aPTT", "sICH", "ECASS", "III", "SITS", "MOST", "EQ",
    "VAS", "DSMB", "CRF", "SDV", "CSV", "PDF", "ODM", "XPT", "SAS", "Stata", "SPSS", "ZIP",
    "SHA", "UTC", "IANA", "TOTP", "IP", "ID", "AE", "SAE", "UN", "T0", "V0", "V1", "V2", "V3",
    "V5", "Q", "h", "min", "s", "mg", "dL", "umol", "L", "mL", "mm", "atm", "kg", "µmol",
    "CONSORT", "CDISC", "XML", "JSON", "HI1", "HI2", "PH1", "PH2", "IN1", "IN9", "EX1", "EX10",
    "STENTING", "CONTINUED_MT", "OK", "QR", "N", "v", "Heidelberg", "Rankin", "Pocock", "Simon",
}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
VISIBLE_ATTRS = {"title", "placeholder", "alt", "aria-label"}
TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def english_words(text: str) -> list[str]:
    text = TEMPLATE_CODE.sub(" ", text)
    text = re.sub(r"&[a-zA-Z]+;|&#\d+;", " ", text)
    return [w for w in WORD.findall(text) if w not in EXCEPTIONS]


class _Visible(HTMLParser):
    """Collects visible text and readable attribute values of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code", "pre", "kbd", "samp"):  # code is not prose
            self._skip += 1
        for name, value in attrs:
            if value and (name in VISIBLE_ATTRS or (name == "value" and tag == "input" and dict(attrs).get("type") in ("submit", "button", "reset"))):
                self.out.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code", "pre", "kbd", "samp") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.out.append(data)


def untranslated_literals(source: str) -> list[str]:
    """The literal text runs of a template source that a user would see untranslated."""
    # Replace every template token by a neutral placeholder so that HTML parsing sees the
    # markup, then mark which text came from inside translate / blocktranslate blocks.
    pieces: list[str] = []
    in_block = 0
    in_comment = False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if name == "comment":
                in_comment = True
            elif name == "endcomment":
                in_comment = False
            elif in_comment:
                pass
            elif name in ("blocktranslate", "blocktrans"):
                in_block += 1
                pieces.append("\x01")  # a translated run (opaque for the check)
            elif name in ("endblocktranslate", "endblocktrans"):
                in_block = max(0, in_block - 1)
            elif name in ("plural",) or in_block:
                pass
            else:
                pieces.append("\x01")
        elif token.token_type == TokenType.TEXT:
            if not in_block and not in_comment:
                pieces.append(token.contents)
        elif token.token_type == TokenType.VAR:
            if not in_block:
                pieces.append("\x01")
    parser = _Visible()
    parser.feed("".join(pieces))
    parser.close()
    found = []
    for run in parser.out:
        for part in run.split("\x01"):
            if english_words(part):
                found.append(" ".join(part.split()))
    return found


def scan(template_dirs: list[Path]) -> dict[str, list[str]]:
    result = {}
    for root in template_dirs:
        for path in sorted(root.rglob("*.html")):
            hits = untranslated_literals(path.read_text(encoding="utf-8"))
            if hits:
                result[str(path.relative_to(root.parent))] = hits
    return result
