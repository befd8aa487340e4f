import uuid

import pghistory


def client_ip(request) -> str | None:
    """The client's address for the audit trail and the lockout.

    Behind EDC_TRUSTED_PROXY_COUNT reverse proxies, each of which appends the address it
    received the request from to X-Forwarded-For, the client is the Nth address from the
    right; everything to its left was written by the client and is never trusted. Without
    trusted proxies (or with fewer hops than configured, or a malformed entry) it is the
    peer address of the connection.
    """
    import ipaddress

    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR")
    count = getattr(settings, "EDC_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count <= 0 or not forwarded:
        return remote
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


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
