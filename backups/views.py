from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backups import selectors, services
from backups.targets import configured_target
from core import access
from core.roles import Action


def _require_admin(request):
    if not access.can(request.user, Action.ADMINISTER):
        raise PermissionDenied


@login_required
def history(request):
    """Backup history (when, size, checksum, target, verified) and the last restore drill."""
    _require_admin(request)
    last = selectors.last_successful_backup(user=request.user)
    overdue = last is None or last.finished_at < timezone.now() - timedelta(
        hours=settings.EDC_BACKUP_MAX_AGE_HOURS)
    return render(request, "backups/history.html", {
        "sets": selectors.backup_history(user=request.user),
        "last_backup": last,
        "overdue": overdue,
        "max_age_hours": settings.EDC_BACKUP_MAX_AGE_HOURS,
        "last_drill": selectors.last_successful_drill(user=request.user),
        "drills": selectors.recent_drills(user=request.user),
        "target": configured_target().describe(),
        "drill_command": "python manage.py backup_restore --set ID --into postgres://…/empty_db",
        "encrypted": bool(settings.EDC_BACKUP_ENCRYPTION_KEY or settings.EDC_BACKUP_ENCRYPTION_KEY_FILE),
    })


@login_required
@require_POST
def backup_now(request):
    _require_admin(request)
    slot = services.backup_request(by=request.user)
    messages.success(request, _("Backup %(slot)s requested; it appears below when the worker has taken it.")
                     % {"slot": slot.split(":", 1)[1]})
    return redirect("backups:history")
