"""A translatable message formatted only when it is shown.

rules.evaluate() produces a reason for each of 19 criteria on every call; translating and
formatting them eagerly would make the translation machinery most of its cost. `_("…") % {…}`
here builds a LazyText; str() translates into the active language and formats. The name `_`
keeps the strings visible to makemessages.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext


class LazyText:
    __slots__ = ("message", "params")

    def __init__(self, message: str, params: Any = None):
        self.message = message
        self.params = params

    def __mod__(self, params: Any) -> LazyText:
        return LazyText(self.message, params)

    def __str__(self) -> str:
        text = gettext(self.message)
        return text % self.params if self.params is not None else text

    def __repr__(self) -> str:
        return f"LazyText({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, item: str) -> bool:
        return item in str(self)

    def __add__(self, other: object) -> str:
        return str(self) + str(other)

    def __radd__(self, other: object) -> str:
        return str(other) + str(self)

    def lower(self) -> str:
        return str(self).lower()


def lazy_text(message: str) -> LazyText:
    return LazyText(message)
