import time
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.access import needs_two_factor, primary_site

_LAST_SEEN = "edc_last_seen"
SEEN_RESOLUTION = 60  # seconds: how stale the stored last-seen time may be
# Requests that must not count as activity (the idle-warning script polls nothing, but
# static files and the keep-alive itself are excluded to be safe).
_PASSIVE_PREFIXES = ("/static/",)


def mark_seen_at_sign_in(sender, request, user, **kwargs) -> None:
    """The sign-in is the first activity of a session: stored with it (the session is saved at
    sign-in anyway), so the first page after it need not write the session again."""
    if request is not None and hasattr(request, "session"):
        request.session[_LAST_SEEN] = time.time()


class IdleTimeoutMiddleware:
    """Sign a user out after EDC_IDLE_TIMEOUT_SECONDS without a request (30 min by default).

    The base template shows a warning shortly before, with a button that pings the
    keep-alive URL; the server side is authoritative.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(_PASSIVE_PREFIXES):
            now = time.time()
            last = request.session.get(_LAST_SEEN)
            # The stored time is at most SEEN_RESOLUTION behind the last request (writing the
            # session on every request would add a write and a commit to each), so the sign-out
            # waits that much longer: never before the timeout, at most a minute after it.
            if last is not None and now - last > settings.EDC_IDLE_TIMEOUT_SECONDS + SEEN_RESOLUTION:
                from audit.models import AuditAction
                from audit.services import audit_event_record

                audit_event_record(action=AuditAction.IDLE_TIMEOUT, actor=user)
                logout(request)
                messages.info(request, _("You were signed out after %(minutes)s minutes without activity.")
                              % {"minutes": round(settings.EDC_IDLE_TIMEOUT_SECONDS / 60)})
                return redirect(f"{reverse('login')}?next={request.path}")
            if last is None or now - last >= SEEN_RESOLUTION:
                request.session[_LAST_SEEN] = now
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """Administrators, data managers and the statistician must pass TOTP in every session."""

    ALLOWED = ("/account/2fa/", "/account/logout/", "/static/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.ALLOWED)
            and needs_two_factor(user)
            and not user.is_verified()
        ):
            return redirect(f"{reverse('two_factor')}?next={request.path}")
        return self.get_response(request)


class SiteTimezoneMiddleware:
    """Show times in the user's site zone (SPEC §3: store UTC, show the site's zone)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = settings.EDC_DEFAULT_SITE_TIME_ZONE
        if user is not None and user.is_authenticated:
            site = primary_site(user)
            if site is not None:
                tz_name = site.time_zone
        timezone.activate(zoneinfo.ZoneInfo(tz_name))
        request.edc_time_zone = tz_name
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Cache-Control on every response Django produces.

    CSP: every script, style sheet, font and image is vendored and served from 'self'; the few
    inline <script>/<style> blocks carry the per-request nonce (`request.csp_nonce`, in
    templates `{{ request.csp_nonce }}`); inline event handlers are not allowed (edc.js binds
    them from data attributes). Only style *attributes* stay allowed (layout widths), which
    cannot run code.

    Cache-Control: no-store on every page and download, so no browser, proxy or shared
    hospital computer keeps a copy of clinical data (static files are served by whitenoise
    before this middleware and stay cacheable).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import secrets

        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        nonce = request.csp_nonce
        response.setdefault("Content-Security-Policy", "; ".join([
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]))
        response["Cache-Control"] = "no-store, private"
        response["Pragma"] = "no-cache"
        return response


class BadInputMiddleware:
    """Request values that no page sends are a clear 400 page naming the field and the rule,
    never a 500 (issue 17): a NUL byte or a control character in the address, a search box, a
    query text or a reason (PostgreSQL text cannot hold a NUL; no CRF text holds controls), and
    a malformed hidden number (core.exceptions.BadInput raised by core.http.int_field)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from core.bounds import text_problem

        problem = None
        if text_problem(request.path):
            problem = (_("address"), text_problem(request.path))
        else:
            for source in ([request.GET, request.POST] if request.method == "POST" else [request.GET]):
                for name, values in source.lists():
                    bad = text_problem(name) or next((text_problem(v) for v in values if text_problem(v)), None)
                    if bad:
                        problem = (name.replace("\x00", "\\x00"), bad)
                        break
                if problem:
                    break
        if problem:
            return bad_input_response(request, *problem)
        return self.get_response(request)

    def process_exception(self, request, exception):
        from core.exceptions import BadInput

        if isinstance(exception, BadInput):
            return bad_input_response(request, exception.field, exception.rule)
        return None


def bad_input_response(request, field, rule):
    from django.shortcuts import render

    return render(request, "core/bad_input.html", {"field": field, "rule": rule}, status=400)
