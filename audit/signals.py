"""Sign-in events become audit events (SPEC §8; 21 CFR 11.300)."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.middleware import client_ip
from audit.models import AuditAction
from audit.services import audit_event_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_event_record(action=AuditAction.LOGIN, actor=user, ip=client_ip(request) if request else None)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_event_record(action=AuditAction.LOGOUT, actor=user,
                           ip=client_ip(request) if request else None)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username", "")
    user = get_user_model().objects.filter(username=username).first()
    audit_event_record(
        action=AuditAction.LOGIN_FAILED,
        actor=user or username,
        summary=f"Failed sign-in for {username!r}",
        ip=client_ip(request) if request else None,
    )


@receiver(user_locked_out)
def _locked_out(sender, request, username, ip_address, **kwargs):
    user = get_user_model().objects.filter(username=username).first()
    audit_event_record(action=AuditAction.LOCKOUT, actor=user or username,
                       summary=f"Account {username!r} locked after repeated failed sign-ins",
                       ip=ip_address)
