"""Messages stored in one language-neutral form and shown in the reader's language (issue 15).

An edit check's message is opened as a query, read later by a monitor in English and a
coordinator in Chinese. So a check returns a `Message` (its msgid, marked with gettext_noop
so the catalogue holds it, and its parameters); the query keeps the msgid and the parameters
beside the English text, and a page renders it with `render` in the language of whoever
reads it. Rows stored before the msgid existed keep their English text (`render` falls back).

Modules of checks import `lazy` as `_` (the idiom of eligibility.lazytext), so the msgids
are collected by makemessages like any other. A parameter may itself be a Message (a label such as "the 24-hour assessment"); dates and
numbers are language-neutral and stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import translation
from django.utils.translation import gettext


class Message:
    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: Any):
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        text = gettext(self.msgid)
        if not self.params and "%(" not in text:
            return text
        return text % {k: str(v) for k, v in self.params.items()}

    def __mod__(self, params: Mapping[str, Any]) -> Message:  # `_("… %(x)s") % {"x": 1}`
        return Message(self.msgid, **params)

    def __repr__(self) -> str:
        return f"Message({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, Message):
            return (self.msgid, self.params) == (other.msgid, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __contains__(self, part: str) -> bool:  # `"window" in failure.message` reads the English
        return part in self.english()

    def english(self) -> str:
        with translation.override("en"):
            return str(self)

    def as_json(self) -> dict[str, Any]:
        return {"msgid": self.msgid,
                "params": {k: v.as_json() if isinstance(v, Message) else _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = {k: cls.from_json(v) if isinstance(v, Mapping) and "msgid" in v else v
                  for k, v in (data.get("params") or {}).items()}
        return cls(data["msgid"], **params)


def lazy(msgid: str) -> Message:
    """Import as `_` in a module of checks: makemessages then collects the msgid, and
    `_("…") % {…}` gives a Message formatted only when it is shown."""
    return Message(msgid)


def _plain(value: Any) -> Any:
    lazy_msgid = _lazy_msgid(value)
    if lazy_msgid is not None:  # a gettext_lazy label or unit word: kept as its msgid
        return {"msgid": lazy_msgid, "params": {}}
    return value if isinstance(value, (int, float, bool)) or value is None else str(value)


def _lazy_msgid(value: Any) -> str | None:
    """The msgid of a plain gettext_lazy("…") proxy (None for anything else)."""
    from django.utils.functional import Promise

    if isinstance(value, Promise):
        args = getattr(value, "_args", ())
        if len(args) == 1 and isinstance(args[0], str) and not getattr(value, "_kw", None):
            return args[0]
    return None


def stored(message) -> tuple[str, str, dict]:
    """(English text, msgid, params) to store for a message (a plain string: no msgid)."""
    if isinstance(message, Message):
        data = message.as_json()
        return message.english(), data["msgid"], data["params"]
    return str(message), "", {}


def render(text: str, msgid: str = "", params: Mapping[str, Any] | None = None) -> str:
    """A stored message in the current language; a row without msgid shows its stored text,
    and a msgid whose parameters no longer fit its catalogue entry falls back to that text too."""
    if not msgid:
        return text
    try:
        return str(Message.from_json({"msgid": msgid, "params": params or {}}))
    except (KeyError, TypeError, ValueError):
        return text
