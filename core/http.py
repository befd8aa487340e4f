"""Reading request values that a page sends back (hidden fields), with a clear refusal."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.exceptions import BadInput


def int_field(data, name: str, *, default: int | None = None, label: str | None = None) -> int | None:
    """A whole number from a hidden field (`version`, `lock` ...): BadInput (a 400 page naming
    the field) when it is anything else; `default` when it is absent or empty."""
    raw = data.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise BadInput(label or name, _("expected a whole number, as the page sent it; found %(v)s")
                       % {"v": repr(text[:40])})
    return int(text)
