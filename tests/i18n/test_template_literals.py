"""No template shows literal text outside {% translate %} / {% blocktranslate %}."""

from pathlib import Path

from tests.i18n.literals import scan, untranslated_literals

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_has_untranslated_literal_text():
    found = scan([TEMPLATES])
    report = "\n".join(f"{path}: {hits}" for path, hits in found.items())
    assert not found, "wrap these in {% translate %} or {% blocktranslate %}:\n" + report


def test_the_scan_finds_literals_and_ignores_translated_text():
    source = """{% load i18n %}<h1>{% translate "Subjects" %}</h1><p>Not entered yet</p>
    <input placeholder="Search"><button title="Close it">{% translate "Close" %}</button>
    {% blocktranslate with n=x %}Screening {{ n }} saved{% endblocktranslate %}
    <td>NIHSS {{ total }} mL/min</td><script>var label = "Hello";</script>"""
    assert untranslated_literals(source) == ["Not entered yet", "Search", "Close it"]
