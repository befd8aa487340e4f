"""Composing writes (STYLE: "a durable public service wraps an inner function that runs in
the caller's transaction, so two steps of one user action commit together")."""

from __future__ import annotations

from django.db import transaction


def durable(fn):
    """Make `fn` a top-level write service (`transaction.atomic(durable=True)`: always the
    outermost transaction), keeping the undecorated function as `.inner` for callers that
    compose it with another step inside their own transaction (a correction and its note)."""
    wrapped = transaction.atomic(durable=True)(fn)
    wrapped.inner = fn
    return wrapped
