"""Reads of the core app: the one notification inbox."""

from django.db.models import Q, QuerySet

from core.models import Notification


def notifications_for(*, user, unread_only: bool = False,
                      key_prefixes: tuple[str, ...] = ()) -> QuerySet[Notification]:
    """Every notice of one user (reminders, queries, randomization), newest first; with
    key_prefixes only the notices of those kinds (e.g. the statistician's list alerts)."""
    qs = Notification.objects.filter(user=user).select_related("subject")
    if key_prefixes:
        kinds = Q()
        for prefix in key_prefixes:
            kinds |= Q(key__startswith=prefix)
        qs = qs.filter(kinds)
    return qs.filter(read_at__isnull=True) if unread_only else qs


def notifications_unread_count(user) -> int:
    """Unread notices of the user, for the navbar badge (one COUNT query)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
