"""Languages of people: what the EDC writes to a user (pages, notices, e-mails) is in that
user's preferred language (issue 15).

Texts meant for several recipients are given as *deferred* texts — a lazy translation
(gettext_lazy / format_lazy) or a function taking no argument that builds the text with
gettext — and rendered once per recipient with `text_for(user, value)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise

Deferred = str | Promise | Callable[[], str]


def is_supported(code: str) -> bool:
    return code in {c for c, _ in settings.LANGUAGES}


def language_of(user) -> str:
    code = getattr(user, "preferred_language", "") or settings.LANGUAGE_CODE
    return code if is_supported(code) else settings.LANGUAGE_CODE


def render(value: Deferred | Any, language: str) -> str:
    """The text of `value` in `language` (a plain str is returned as it is)."""
    if isinstance(value, str):
        return value
    with translation.override(language):
        return value() if callable(value) else str(value)


def text_for(user, value: Deferred | Any) -> str:
    return render(value, language_of(user))


def remember_language(response, code: str):
    """Make `code` the active language of the browser from the next request on."""
    if is_supported(code):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, code, max_age=settings.LANGUAGE_COOKIE_AGE,
                            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                            secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                            samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return response
