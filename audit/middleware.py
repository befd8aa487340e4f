import uuid

import pghistory


def client_ip(request) -> str | None:
    # Behind the production proxy (EDC_BEHIND_PROXY) the first X-Forwarded-For hop is the client.
    from django.conf import settings

    if settings.SECURE_PROXY_SSL_HEADER and request.META.get("HTTP_X_FORWARDED_FOR"):
        return request.META["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware:
    """Attach who/where/which-request to every row change made while serving a request.

    The pghistory triggers copy this context into each event row, so the audit trail says
    which user (and in which roles), from which IP and request, changed a value — and why,
    when a service adds `reason` for the change.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4()
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return self.get_response(request)
        user = getattr(request, "user", None)
        metadata = {
            "user": user.pk if user is not None and user.is_authenticated else None,
            "username": user.username if user is not None and user.is_authenticated else "",
            "url": request.path,
            "ip": client_ip(request),
            "request_id": str(request.request_id),
        }
        if user is not None and user.is_authenticated:
            from core.access import user_memberships

            metadata["roles"] = sorted(
                {f"{m.role}@{m.site.code if m.site else '*'}" for m in user_memberships(user)}
            )
        with pghistory.context(**metadata):
            return self.get_response(request)
