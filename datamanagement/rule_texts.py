"""The edit-check rule descriptions as the edit-check page shows them, listed for the catalogue
(issue 15). The rules are written once in the checks modules (from core.protocol values);
the page translates the resulting text. A rule whose text changes without an entry here shows
in English, and the zh-hans crawl (tests/i18n/test_zh_crawl.py) fails on it.
"""

from django.utils.translation import gettext_noop

RULE_TEXTS = (
    gettext_noop("each NIHSS item within its range (1a 0–3, 1b 0–2, 1c 0–2, 2 0–2, 3 0–3, 4 0–3, 5a 0–4 or UN, "
                 "5b 0–4 or UN, 6a 0–4 or UN, 6b 0–4 or UN, 7 0–2 or UN, 8 0–2, 9 0–3, 10 0–2 or UN, 11 0–2)"),
    gettext_noop("unusual but possible value (usual ranges: core/protocol.py)"),
    gettext_noop("NIHSS total 0–42"),
    gettext_noop("pre-stroke mRS 0–5"),
    gettext_noop("last known well ≤ arterial puncture ≤ randomization ≤ reperfusion"),
    gettext_noop("a lab pending at enrollment must not breach an eligibility threshold later"),
    gettext_noop("a lab may be pending only under the investigator's attestation; its result is due"),
    gettext_noop("mRS at discharge not better than pre-stroke mRS"),
    gettext_noop("mRS 0–6"),
    gettext_noop("last known well ≤ arterial puncture ≤ randomization ≤ reperfusion ≤ end of procedure"),
    gettext_noop("a pass after randomization is not before it"),
    gettext_noop("an item marked UN has no score, and UN needs a written explanation"),
    gettext_noop("not before randomization"),
    gettext_noop("V2 within T0+18 h … T0+30 h"),
    gettext_noop("Heidelberg classes only with a new ICH"),
    gettext_noop("V3 within T0+36 h … T0+60 h"),
    gettext_noop("V4 within day 6–8 (7 ± 1)"),
    gettext_noop("the day-7 visit is not before the 24-hour visit"),
    gettext_noop("blinding attested or a breach reference given"),
    gettext_noop("mRS 6 needs the date of death"),
    gettext_noop("a date of death only with mRS 6"),
    gettext_noop("assessed on day 83–97 after randomization"),
    gettext_noop("mRS 6 only with a death form"),
    gettext_noop("the date of death agrees with the death form"),
    gettext_noop("resolution not before onset"),
    gettext_noop("a serious event names a seriousness criterion"),
)
