import base64
import io

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import i18n as i18n_views
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.middleware import client_ip
from audit.models import AuditAction
from audit.services import audit_event_record
from core import access, i18n
from core.models import User
from core.roles import Action
from core.services import account_unlock


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        """The user's preferred language applies from sign-in on (cookie read by LocaleMiddleware)."""
        response = super().form_valid(form)
        return i18n.remember_language(response, form.get_user().preferred_language)


@require_POST
def set_language(request):
    """Django's language switch; a signed-in user's choice is also kept as the preference
    (the next sign-in uses it)."""
    response = i18n_views.set_language(request)
    code = request.POST.get("language", "")
    if request.user.is_authenticated and i18n.is_supported(code) and request.user.preferred_language != code:
        User.objects.filter(pk=request.user.pk).update(preferred_language=code)
    return response


@login_required
def home(request):
    """One home page; its panels follow the user's roles (later issues fill them)."""
    user = request.user
    panels = []
    seen_urls = set()
    for action, title, url_name in HOME_PANELS:
        if url_name not in seen_urls and access.can(user, action):
            seen_urls.add(url_name)
            panels.append({"title": title, "url_name": url_name})
    return render(request, "core/home.html", {"panels": panels})


HOME_PANELS = [
    (Action.SCREEN, gettext_lazy("Screening"), "eligibility:list"),
    (Action.RANDOMIZE, gettext_lazy("Randomize"), "randomization:home"),
    (Action.ENTER_CRF, gettext_lazy("Subjects and visits"), "followup:subjects"),
    (Action.ENTER_DAY90, gettext_lazy("Day-90 assessments"), "followup:subjects"),
    (Action.VIEW_CRF, gettext_lazy("Casebooks"), "followup:subjects"),
    (Action.RAISE_QUERY, gettext_lazy("Queries"), "datamanagement:queries"),
    (Action.ANSWER_QUERY, gettext_lazy("My queries"), "datamanagement:queries"),
    (Action.SCREENING_LOG, gettext_lazy("Screening log"), "eligibility:log"),
    (Action.ALLOCATION_LIST, gettext_lazy("Allocation lists"), "randomization:lists"),
    (Action.EXPORT_BLINDED, gettext_lazy("Exports"), "exports:center"),
    (Action.REPORTS, gettext_lazy("Reports"), "exports:reports"),
    (Action.AUDIT_TRAIL, gettext_lazy("Audit trail"), "datamanagement:audit"),
    (Action.ADMINISTER, gettext_lazy("Users, sites, roles"), "user_list"),
    (Action.ADMINISTER, gettext_lazy("Locked accounts"), "unlock"),
]


@login_required
def two_factor(request):
    """TOTP enrollment (QR code) on first use, verification on every later sign-in."""
    user = request.user
    next_url = request.GET.get("next") or request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
            user=user, name="authenticator", confirmed=False
        )
    error = None
    if request.method == "POST":
        token = (request.POST.get("token") or "").strip().replace(" ", "")
        allowed, throttle = device.verify_is_allowed()
        if not allowed:
            # Throttled (django-otp doubles the wait after each wrong code): not even the
            # right code is checked until the wait is over.
            audit_event_record(action=AuditAction.TWO_FACTOR_FAILED, actor=user, ip=client_ip(request),
                               summary="Two-factor code refused: too many wrong codes (throttled)",
                               detail={"throttled": True, "failures": device.throttling_failure_count})
            error = _("Too many wrong codes. Wait a moment before you try again.")
        elif token.isdigit() and device.verify_token(token):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                audit_event_record(action=AuditAction.TWO_FACTOR_ENROLLED, actor=user)
            otp_login(request, device)
            return redirect(next_url)
        else:
            if not token.isdigit():
                device.throttle_increment()  # a malformed code counts as a wrong one
            device.refresh_from_db(fields=["throttling_failure_count"])
            audit_event_record(action=AuditAction.TWO_FACTOR_FAILED, actor=user, ip=client_ip(request),
                               summary="Wrong two-factor code",
                               detail={"failures": device.throttling_failure_count})
            error = _("The 6-digit code is not valid. Check the time on your phone and try again.")
    qr_svg = None
    if enrolling:
        buffer = io.BytesIO()
        segno.make(device.config_url, error="m").save(buffer, kind="svg", scale=5)
        qr_svg = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    return render(request, "registration/two_factor.html", {
        "enrolling": enrolling, "qr_svg": qr_svg, "error": error, "next": next_url,
        "secret": base64.b32encode(device.bin_key).decode() if enrolling else None,
    })


@login_required
@require_POST
def keepalive(request):
    return JsonResponse({"ok": True})


@login_required
def unlock(request):
    """Administrators lift account lockouts; each unlock is audited with its reason."""
    from axes.models import AccessAttempt

    if not access.can(request.user, Action.ADMINISTER):
        raise PermissionDenied
    if request.method == "POST":
        username = request.POST.get("username", "")
        reason = request.POST.get("reason", "").strip()
        if not reason:
            messages.error(request, _("Reason: a reason is required to unlock an account."))
        else:
            account_unlock(username=username, by=request.user, reason=reason)
            messages.success(request, _("The account %(u)s is unlocked.") % {"u": username})
            return redirect("unlock")
    attempts = AccessAttempt.objects.order_by("-attempt_time")
    return render(request, "core/unlock.html", {"attempts": attempts})


def error_403(request, exception=None):
    return render(request, "403.html", status=403)


def error_404(request, exception=None):
    return render(request, "404.html", status=404)


def error_500(request):
    # No request context: the page must render even when the database is what failed.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render({}), status=500)


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon."""
    from django.shortcuts import redirect
    from django.templatetags.static import static

    return redirect(static("edc/favicon.svg"), permanent=True)
