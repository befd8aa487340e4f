"""Chinese beside English in the data dictionary and value labels (issue 15).

Variable names and codes stay language-neutral; labels exist in English (the reference) and
in Simplified Chinese, both from the one catalogue (locale/zh_Hans).
"""

from __future__ import annotations

from django.utils.translation import gettext_noop, trans_real

LABEL_LANGUAGES = ("en", "zh-hans")

# Labels the exports build from plain strings (exports.analysis, exports.endpoints): listed
# here so that `make messages` extracts them and the catalogue translates them.
EXPORT_LABELS = (
    gettext_noop("Subject number"), gettext_noop("Site code"), gettext_noop("Visit code"),
    gettext_noop("Record id"), gettext_noop("Randomized at (UTC)"), gettext_noop("Subject status"),
    gettext_noop("Treatment arm"), gettext_noop("mRS at day 90 (6 if died)"),
    gettext_noop("mRS 0–2 at day 90 (primary endpoint)"), gettext_noop("Died (any form or status)"),
    gettext_noop("Date of death"), gettext_noop("0 No symptoms"), gettext_noop("1 No significant disability"),
    gettext_noop("2 Slight disability"), gettext_noop("3 Moderate disability"),
    gettext_noop("4 Moderately severe disability"), gettext_noop("5 Severe disability"), gettext_noop("6 Dead"),
    gettext_noop("Analysis table"), gettext_noop("Yes"), gettext_noop("No"),
    gettext_noop("Derived from the 48-hour CRF's raw components"),
    gettext_noop("UTC instant, ISO 8601 with whole seconds (…Z)."),
    gettext_noop("The site's local calendar date (time zone: site_tz)."),
    gettext_noop("Unit: see {variable}."),
    gettext_noop("Site time zone (IANA; dates are this zone's calendar dates)"),
    gettext_noop("mRS at day 90, central adjudicated (final reads only)"),
    gettext_noop("Central adjudication (adjudication.results)"),
    gettext_noop("mRS at day 90 for analysis: adjudicated when final, else site"),
    gettext_noop("Source of mrs_day90_analysis: adjudicated / site"),
    gettext_noop("mRS 0–2 at day 90 for analysis (adjudicated when final, else site)"),
    gettext_noop("sICH (Heidelberg), committee adjudicated"),
    gettext_noop("sICH (Heidelberg) for analysis: adjudicated when final, else site"),
    gettext_noop("sICH (ECASS III), committee adjudicated"),
    gettext_noop("sICH (ECASS III) for analysis: adjudicated when final, else site"),
    gettext_noop("sICH (SITS-MOST), committee adjudicated"),
    gettext_noop("sICH (SITS-MOST) for analysis: adjudicated when final, else site"),
    gettext_noop("Source of the sICH analysis values: adjudicated / site"),
    gettext_noop("Randomization stratum (site-circulation)"),
    gettext_noop("Randomized by"),
    gettext_noop("Allocation list (blocks; empty for minimisation)"),
    gettext_noop("Allocation list entry: sequence within the stratum"),
    gettext_noop("Allocation list entry: block"),
    gettext_noop("Allocation list entry: block size"),
    gettext_noop("days"),
)


def label_in(text: str, language: str) -> str:
    """The label `text` (English) in `language`; unchanged when the catalogue has no entry.
    Labels capitalised for display ("Created at") are found under their field name too."""
    if not text:
        return text
    text = str(text)
    # The language's catalogue itself (what gettext() reads once `language` is active):
    # no activation per label — the dictionary looks up some 1,500 of them.
    catalogue = trans_real.translation(language)
    found = catalogue.gettext(text)
    if found == text and text[:1].isupper():
        lowered = text[:1].lower() + text[1:]
        again = catalogue.gettext(lowered)
        if again != lowered:
            found = again
    return found


def coded_in(coded: str, language: str) -> str:
    """"code = label; code = label" with each label in `language` (codes unchanged)."""
    if not coded or " = " not in coded:
        return coded
    parts = []
    for item in coded.split("; "):
        code, sep, label = item.partition(" = ")
        parts.append(f"{code}{sep}{label_in(label, language)}" if sep else item)
    return "; ".join(parts)
