"""Token authentication for the REST API: `Authorization: Token <32 hex>` (or `Bearer`).

The token's user is the request's user: the views then ask the same selectors and services
as the pages. A missing, unknown, revoked or expired token is 401."""

from __future__ import annotations

import pghistory
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api import services
from api.exceptions import TokenInvalid


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header:
            return None
        if header[0].lower() not in self.keywords or len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: expected 'Token <32 hexadecimal characters>'.")
        try:
            token = services.authenticate(header[1])
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return token.user, token

    def authenticate_header(self, request):
        return 'Token realm="api"'


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.rest.auth.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <your 32-character API token>` (API tokens page)."}


def audit_context(request):
    """pghistory context of a REST request (who changed a row through the API)."""
    from audit.middleware import client_ip
    from core import access

    user = request.user
    return pghistory.context(
        user=user.pk, username=user.username, url=request.path, ip=client_ip(request),
        api_token=getattr(request.auth, "label", ""),
        roles=sorted({f"{m.role}@{m.site.code if m.site else '*'}" for m in access.user_memberships(user)}))
