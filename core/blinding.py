"""One decision for everything the system sends: does a text reveal the treatment arm, and
may this person receive it?

Blinding is a property of every outbound text — notification, e-mail, signature "broken"
reason, audit row, query, error message, report, export cell, API response — not of each page.
Every writer of such a text asks here:

- `reveals_arm(crf=…, field=…)`: the text concerns an arm-revealing form (the procedure CRF
  and its passes: a stent was placed or not; passes exist in one arm only), an arm field of any
  form, or the randomization app;
- `may_see_arm(user, site)`: the person may learn the arm for a subject of that site — the
  blinding matrix of core/roles.py (SEES_ARM) as applied by core.access: a user holding a
  blinded role anywhere (mixed memberships: site staff here, outcome assessor there) is
  blinded everywhere, and an unblinded role counts only at the sites it covers;
- `recipients(users, site=…, reveals=…)`: the people an arm-revealing text may go to;
- `text_for(user, text, site=…, reveals=…)`: the text itself or a neutral placeholder.

The matrix itself stays in core/roles.py; this module is the only place that combines it with
"what does the text concern".
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

from core import access
from core import crf as registry

WITHHELD = _("(details withheld: they concern the treatment arm)")
ALLOCATION_APPS = ("randomization",)


def _crf(crf=None, crf_code: str | None = None, model=None):
    if crf is not None:
        return crf
    if crf_code:
        try:
            return registry.get(crf_code)
        except KeyError:
            return None
    if model is not None:
        return registry.for_model(model)
    return None


def reveals_arm(*, crf=None, crf_code: str | None = None, model=None, field: str | None = None,
                fields: Iterable[str] = (), app_label: str | None = None, page: str | None = None) -> bool:
    """True when a text about this form / field (or these fields) could reveal the arm. `page`:
    a casebook page ("V1"), which reveals the arm when any form shown on it does."""
    if page is not None and any(c.reveals_arm for c in registry.all_crfs() if c.page == page):
        return True
    if app_label in ALLOCATION_APPS or (model is not None and model._meta.app_label in ALLOCATION_APPS):
        return True
    form = _crf(crf, crf_code, model)
    if form is None:
        return False
    if form.reveals_arm:
        return True
    names = {field, *fields} - {None}
    return bool(names & set(form.arm_fields))


def may_see_arm(user, site=None) -> bool:
    """The person may learn the arm of a subject of `site` (any site when None: unblinded for
    every site they can see)."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    return access.sees_arm_at(user, site) if site is not None else access.sees_arm(user)


def may_see_arm_everywhere(user, sites: Iterable) -> bool:
    """Per-arm figures of a report that spans `sites`: only for a person who may learn the arm
    at every one of them (one blinded site blinds the whole report)."""
    if not may_see_arm(user):
        return False
    return all(may_see_arm(user, s) for s in sites)


def sees_form(user, crf=None, *, crf_code: str | None = None, page: str | None = None, site=None) -> bool:
    """The form (its page, rows, queries, errors) may be shown to this person: forms that
    reveal the arm (the procedure CRF) only to those who may see the arm (at `site` if given)."""
    if not reveals_arm(crf=crf, crf_code=crf_code, page=page):
        return True
    return may_see_arm(user, site)


def recipients(users: Iterable, *, site, reveals: bool) -> list:
    """Of `users`, those who may receive a text about a subject of `site`."""
    users = list(users)
    if not reveals:
        return users
    return [u for u in users if may_see_arm(u, site)]


def text_for(user, text: str, *, site, reveals: bool, withheld=WITHHELD) -> str:
    """`text` for this person, or the neutral placeholder if it would reveal the arm to him."""
    if not reveals or may_see_arm(user, site):
        return text
    return str(withheld)


def signature_reason_reveals_arm(reason: str) -> bool:
    """A signature "broken" reason names an arm-revealing form (reasons written before the
    neutral wording: "V1 procedure changed after signing — stent diameter …")."""
    labels = [str(c.label) for c in registry.all_crfs() if c.reveals_arm]
    return any(reason.startswith(label) for label in labels if label)


def signature_reason_for(user, reason: str, *, site) -> str:
    """A signature's broken reason as this person may read it."""
    return text_for(user, reason or "", site=site, reveals=signature_reason_reveals_arm(reason or ""))
