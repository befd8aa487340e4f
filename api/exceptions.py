"""One exception per failure of the API; each message names what was expected and found."""

from __future__ import annotations


class ApiError(Exception):
    status = 400


class TokenInvalid(ApiError):
    """No token, an unknown token, or one revoked or expired (HTTP 401)."""

    status = 401


class TokenLabelInvalid(ApiError):
    pass


class ParameterInvalid(ApiError):
    """A request parameter has a value the endpoint does not accept (HTTP 400)."""


class NotPermitted(ApiError):
    status = 403
