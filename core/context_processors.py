from django.conf import settings

from core import access
from core.roles import Action


def edc(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"edc_idle_timeout": settings.EDC_IDLE_TIMEOUT_SECONDS}
    return {
        "edc_roles": access.role_labels(user),
        "edc_sites": [m.site for m in access.user_memberships(user) if m.site],
        "edc_time_zone": getattr(request, "edc_time_zone", settings.EDC_DEFAULT_SITE_TIME_ZONE),
        "edc_idle_timeout": settings.EDC_IDLE_TIMEOUT_SECONDS,
        "edc_idle_warning": settings.EDC_IDLE_WARNING_SECONDS,
        "edc_can": {a.value: access.can(user, a.value) for a in Action},
        "edc_sees_arm": access.sees_arm(user),
    }


def notifications(request):
    """Unread in-app notifications for the navbar Inbox badge (one COUNT query per page)."""
    from core.selectors import notifications_unread_count

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"edc_unread_notifications": notifications_unread_count(user)}
