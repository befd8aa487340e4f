"""Problem-detail errors (RFC 9457) for every REST failure: type, title, status, detail, and
the refused fields with their rules when a write is refused."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 406: "Not acceptable", 409: "Conflict",
          412: "Precondition failed", 415: "Unsupported media type", 428: "Precondition required",
          429: "Too many requests"}


def problem(status_code: int, detail: str, fields: dict | None = None) -> Response:
    body = {"type": "about:blank", "title": TITLES.get(status_code, "Error"), "status": status_code,
            "detail": detail}
    if fields:
        body["fields"] = fields
    return Response(body, status=status_code, content_type="application/problem+json")


def problem_handler(exc, context):
    from api.exceptions import ApiError

    if isinstance(exc, ApiError):
        return problem(exc.status, str(exc), getattr(exc, "fields", None))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    fields = None
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        detail = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                           for k, v in fields.items())
    elif isinstance(data, dict) and "detail" in data:
        detail = str(data["detail"])
    else:
        detail = str(data)
    out = problem(response.status_code, detail, fields)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            out[header] = response[header]
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in out:
        out["WWW-Authenticate"] = 'Token realm="api"'
    return out
