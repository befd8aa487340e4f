"""Blinding-breach reports.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core.models import Site, Subject, User
from core.roles import Action
from core.services import (
    notification_create,
)
from randomization.exceptions import (
    BreachReportError,
    NotPermitted,
)
from randomization.models import (
    BlindingBreach,
)
from randomization.services.notices import statisticians


@transaction.atomic(durable=True)
def blinding_breach_report(*, user: User, site: Site, occurred_at: datetime, route: str, description: str,
                           subject: Subject | None = None, unblinded_user: User | None = None,
                           unblinded_person: str = "") -> BlindingBreach:
    # Anyone may report, for a site they belong to (all-site roles: any site).
    if not access.can(user, Action.BLINDING_BREACH) or not access.visible_sites(user).filter(pk=site.pk).exists():
        raise NotPermitted(f"You may not file a report for site {site.code}.")
    if unblinded_user is None and not unblinded_person.strip():
        raise BreachReportError("Who: name the person who may have been unblinded (an EDC user or a name).")
    if not description.strip():
        raise BreachReportError("What happened: describe how the arm may have become known.")
    if occurred_at > timezone.now():
        raise BreachReportError("When: the time it happened cannot be in the future.")
    if subject is not None and subject.site_id != site.pk:
        raise BreachReportError(f"Subject: {subject.number} is not a subject of site {site.code}.")
    breach = BlindingBreach.objects.create(
        site=site, subject=subject, unblinded_user=unblinded_user, unblinded_person=unblinded_person.strip(),
        occurred_at=occurred_at, route=route, description=description.strip(), reported_by=user)
    who = unblinded_user.username if unblinded_user else unblinded_person.strip()
    audit_event_record(
        action=AuditAction.BLINDING_BREACH, actor=user, site=site, obj=breach,
        summary=f"Blinding breach reported: {who}" + (f", subject {subject.number}" if subject else ""),
        detail={"route": route, "occurred_at": occurred_at.isoformat()})
    notification_create(users=statisticians(), key=f"breach:{breach.pk}",
                        title=lambda: _("Blinding breach reported at site %(s)s") % {"s": site.code},
                        body=lambda: _("Reported by %(by)s: %(who)s.") % {"by": user.username, "who": who},
                        url="/randomization/breaches/")
    return breach
