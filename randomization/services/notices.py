"""Notices of the randomization app: stratum supply alerts to the statisticians and the allocation confirmation sent to the site's investigators.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from core import access, blinding, i18n
from core.models import User
from core.roles import Role
from core.services import (
    absolute_url,
    notification_create,
    notification_email_claim,
    notification_email_done,
    notification_email_release,
)
from randomization.models import (
    Allocation,
    AllocationEntry,
)


def statisticians() -> list[User]:
    return list(User.objects.filter(is_active=True, memberships__role=Role.STATISTICIAN,
                                    memberships__active=True).distinct())


# Notices of the statistician's allocation-list page (stratum supply, blinding breaches).
ALERT_KEY_PREFIXES = ("stratum-low:", "breach:")


def alert_low_stratum(stratum: str, remaining: int, total: int) -> None:
    # Deferred texts: built in each recipient's language (core.i18n).
    if remaining == 0:
        def title():
            return _("Allocation list: stratum %(s)s is exhausted") % {"s": stratum}

        def body():
            return _("No unused entry is left in stratum %(s)s of the lists in use. Randomization in this "
                     "stratum is blocked until a list covering it is put in use.") % {"s": stratum}
    else:
        def title():
            return _("Allocation list: stratum %(s)s has %(n)s entries left") % {"s": stratum, "n": remaining}

        def body():
            return _("Stratum %(s)s has %(n)s unused entries left (of %(t)s). Prepare an extension list.") % {
                "s": stratum, "n": remaining, "t": total}
    # One alert per stratum and list size: an extension list (new total) can alert again.
    notification_create(users=statisticians(), key=f"stratum-low:{stratum}:{total}:{'empty' if remaining == 0 else 'low'}",
                        title=title, body=body, url=reverse("randomization:lists"))


@transaction.atomic(durable=True)
def alert_exhausted(stratum: str) -> None:
    total = AllocationEntry.objects.filter(list__active=True, stratum=stratum).count()
    alert_low_stratum(stratum, 0, total)


def allocation_confirmation_send(*, allocation_id: int) -> int:
    """After commit: tell the site's investigators (in-app and e-mail). The arm is written
    only into e-mails to recipients allowed to see it at that site (core.access.sees_arm_at)."""
    from django.core.mail import send_mail

    from core.templatetags.edc import site_time

    allocation = Allocation.objects.select_related("subject__site", "randomized_by").get(pk=allocation_id)
    subject = allocation.subject
    site = subject.site
    investigators = list(User.objects.filter(
        is_active=True, memberships__role=Role.INVESTIGATOR, memberships__site=site,
        memberships__active=True).distinct())
    when = site_time(allocation.randomized_at, site)
    path = reverse("randomization:result", args=[allocation.pk])

    # Deferred texts: built in each recipient's language (core.i18n).
    def title():
        return _("Subject %(n)s randomized at site %(s)s") % {"n": subject.number, "s": site.code}

    def body():
        return _("Subject %(n)s was randomized at %(when)s by %(who)s.") % {
            "n": subject.number, "when": when, "who": allocation.randomized_by}

    def arm_line():
        return _("Arm: %(arm)s (%(code)s).") % {"arm": allocation.get_arm_display(), "code": allocation.arm}
    with transaction.atomic():
        # The in-app notice never carries the arm (it is the same for every recipient).
        notes = notification_create(users=investigators, key=f"randomized:{allocation.pk}", title=title,
                                    body=body, url=path,
                                    subject=subject, email_by_caller=True)
        # Each e-mail is claimed (queued → sending) in the creating transaction, before it is
        # sent: a re-run sends nothing twice and no other sender can mail these notices.
        claimed = notification_email_claim(ids=[n.pk for n in notes])
    sent = 0
    link = absolute_url(path)
    access.load_memberships([note.user for note in claimed])  # who may read the arm: one query
    for note in claimed:
        recipient = note.user
        text = note.body
        if blinding.may_see_arm(recipient, site):
            text += "\n" + i18n.text_for(recipient, arm_line)
        text += "\n\n" + link  # absolute (EDC_BASE_URL): the e-mail has no page to be relative to
        try:
            send_mail(note.title, text, None, [recipient.email])
        except OSError:
            notification_email_release(ids=[note.pk])  # the task's retry sends it
            raise
        notification_email_done(ids=[note.pk])
        sent += 1
    return sent
