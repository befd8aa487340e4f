"""Reads of the API app."""

from __future__ import annotations

from django.db.models import QuerySet

from api.models import ApiToken


def tokens_for(user) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (a token belongs to one person only)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def token_of(user, token_id: int) -> ApiToken:
    from django.http import Http404

    token = tokens_for(user).filter(pk=token_id).first()
    if token is None:
        raise Http404
    return token
