"""The zh_Hans catalogue is complete: every message translated, nothing fuzzy, placeholders
kept, the compiled .mo matching the .po (issue 15: a change adding a user-facing string adds
its translation)."""

import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}")


def problems(po: polib.POFile) -> list[str]:
    out = []
    for e in po:
        if e.obsolete:
            continue
        if "fuzzy" in e.flags:
            out.append(f"fuzzy: {e.msgid!r}")
        strings = list(e.msgstr_plural.values()) if e.msgid_plural else [e.msgstr]
        if not strings or not all(s.strip() for s in strings):
            out.append(f"untranslated: {e.msgid!r}")
            continue
        if "python-format" in e.flags or "python-brace-format" in e.flags:
            wanted = set(PLACEHOLDER.findall(e.msgid))
            for s in strings:
                if set(PLACEHOLDER.findall(s)) != wanted:
                    out.append(f"placeholders differ: {e.msgid!r} -> {s!r}")
    return out


def test_every_message_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(PO))
    assert len(po) > 1000
    found = problems(po)
    assert not found, f"{len(found)} catalogue problems (run `make messages`, fill the msgstr):\n" + "\n".join(found)


def test_the_check_fails_on_an_untranslated_or_fuzzy_entry():
    po = polib.pofile(str(PO))
    po.append(polib.POEntry(msgid="A new string", msgstr=""))
    fuzzy = polib.POEntry(msgid="Another string", msgstr="另一个", flags=["fuzzy"])
    po.append(fuzzy)
    po.append(polib.POEntry(msgid="Hello %(name)s", msgstr="你好", flags=["python-format"]))
    assert problems(po) == ["untranslated: 'A new string'", "fuzzy: 'Another string'",
                            "placeholders differ: 'Hello %(name)s' -> '你好'"]


def test_compiled_catalogue_matches_the_po():
    po = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural.get(0, "")
          for e in polib.pofile(str(PO)) if not e.obsolete and e.msgid}
    mo = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural.get(0, "") for e in polib.mofile(str(MO)) if e.msgid}
    assert po == mo, "the .mo is stale: run `make messages` and commit both files"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is installed by .ci/run")
def test_msgfmt_check_passes():
    result = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(PO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
