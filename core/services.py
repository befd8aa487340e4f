from datetime import timedelta

from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_event_record
from core.access import forget_memberships, require
from core.models import EmailState, Membership, Notification, Site, SiteCounter, User
from core.roles import ALL_SITE_ROLES, Action


class MembershipError(ValueError):
    pass


def site_next_number(*, site: Site, kind: str) -> int:
    """Next value of a per-site sequence. Must run inside the caller's transaction.

    Race prevented: two screenings started at once at one site taking the same number. One
    statement creates the counter row if missing or increments it (INSERT … ON CONFLICT DO
    UPDATE … RETURNING); it takes the row lock until the caller commits, so numbers are
    unique, gap-free and never reused.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SiteCounter._meta.db_table} (site_id, kind, value) VALUES (%s, %s, 1) "
            f"ON CONFLICT (site_id, kind) DO UPDATE SET value = {SiteCounter._meta.db_table}.value + 1 "
            "RETURNING value",
            [site.pk, kind],
        )
        return cursor.fetchone()[0]


@transaction.atomic  # not durable: the admin's change view calls it inside its own transaction
def membership_grant(*, user: User, role: str, site: Site | None, by: User | None = None) -> Membership:
    if by is not None:
        require(by, Action.ADMINISTER)
    if role in ALL_SITE_ROLES and site is not None:
        raise MembershipError(f"The role {role} spans all sites; leave the site empty.")
    if role not in ALL_SITE_ROLES and role != "monitor" and site is None:
        raise MembershipError(f"The role {role} needs a site.")
    membership, created = Membership.objects.get_or_create(user=user, role=role, site=site)
    if not membership.active:
        membership.active = True
        membership.save(update_fields=["active"])
        created = True
    if created:
        audit_event_record(
            action=AuditAction.MEMBERSHIP_CHANGED, actor=by, site=site, obj=membership,
            summary=f"Granted {role} at {site.code if site else 'all sites'} to {user.username}",
        )
    forget_memberships(user)
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, by: User, reason: str) -> Membership:
    require(by, Action.ADMINISTER)
    if not reason.strip():
        raise MembershipError("A reason is required to revoke a membership.")
    membership.active = False
    membership.save(update_fields=["active"])
    audit_event_record(
        action=AuditAction.MEMBERSHIP_CHANGED, actor=by, site=membership.site, obj=membership,
        summary=f"Revoked {membership.role} from {membership.user.username}", reason=reason,
    )
    forget_memberships(membership.user)
    return membership


@transaction.atomic(durable=True)
def account_unlock(*, username: str, by: User, reason: str = "") -> int:
    """Lift an axes lockout (administrators only) and record who did it and why."""
    from axes.utils import reset

    require(by, Action.ADMINISTER)
    count = reset(username=username)
    audit_event_record(
        action=AuditAction.UNLOCK, actor=by,
        summary=f"Unlocked account {username!r}", detail={"attempts_cleared": count}, reason=reason,
    )
    return count


# --- Notifications (the one inbox; writes) ----------------------------------------------------


def notification_create(*, users, key: str = "", title: str, body: str = "", url: str = "",
                        subject=None, email: bool = True, email_by_caller: bool = False) -> list:
    """One in-app notice per user; with a `key`, at most one per (user, key) ever (a database
    constraint: concurrent writers insert it once). Returns the notices of this key for these
    users (the new ones without a key).

    E-mail: with `email` the still-queued notices are e-mailed after commit (Celery task, each
    e-mail claimed first: sent at most once); with email=False there is no e-mail. With
    `email_by_caller` the e-mails are queued but not dispatched: the caller claims them in the
    same transaction (notification_email_claim) and sends its own text (e.g. one per recipient).
    """
    users = list(users)
    if not users:
        return []
    title = title[:200]
    mailed = email or email_by_caller
    rows = [Notification(user=u, key=key, subject=subject, title=title, body=body, url=url,
                         email_state=EmailState.QUEUED if mailed and u.email else EmailState.NONE)
            for u in users]
    if key:
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        rows = list(Notification.objects.filter(user__in=users, key=key).select_related("user").order_by("pk"))
    else:
        rows = Notification.objects.bulk_create(rows)
    if email and not email_by_caller:
        notification_emails_dispatch(ids=[n.pk for n in rows if n.email_state == EmailState.QUEUED])
    return rows


def notification_emails_dispatch(*, ids: list[int]) -> None:
    """After commit, hand the queued e-mails to the worker (nothing for a rolled-back write)."""
    if not ids:
        return

    def _send():
        from core.tasks import send_notification_emails

        send_notification_emails.delay(list(ids))

    transaction.on_commit(_send, robust=True)


def notification_email_claim(*, ids: list[int]) -> list:
    """Claim the e-mails of these notices (`queued → sending`, row locks + conditional UPDATE):
    returns the claimed notices, which only the caller may now send. Then call
    notification_email_done (sent) or notification_email_release (failed before sending)."""
    with transaction.atomic():
        # Race prevented: two runs e-mailing the same notice. The rows are locked and moved
        # queued → sending with a conditional UPDATE before anything is sent.
        rows = list(Notification.objects.filter(pk__in=ids, email_state=EmailState.QUEUED)
                    .select_related("user").order_by("user_id", "pk")
                    .select_for_update(skip_locked=True, of=("self",)))
        claimed_at = timezone.now()
        claimed = Notification.objects.filter(pk__in=[n.pk for n in rows], email_state=EmailState.QUEUED) \
            .update(email_state=EmailState.SENDING, email_claimed_at=claimed_at)
        if claimed != len(rows):  # impossible while we hold the row locks; never send twice
            raise RuntimeError(f"claimed {claimed} of {len(rows)} locked notifications")
    for n in rows:
        n.email_state, n.email_claimed_at = EmailState.SENDING, claimed_at
    return rows


def notification_email_done(*, ids: list[int]) -> None:
    Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING) \
        .update(email_state=EmailState.SENT, email_sent_at=timezone.now())


def notification_email_release(*, ids: list[int]) -> None:
    """The mail server refused before anything went out: queue again (a retry sends it)."""
    Notification.objects.filter(pk__in=ids, email_state=EmailState.SENDING).update(
        email_state=EmailState.QUEUED, email_claimed_at=None)


def notification_emails_send(*, ids: list[int] | None = None) -> int:
    """Send queued e-mails (of the given notices, or every queued one); returns how many
    messages went out. One e-mail per person per run (a digest of that person's new notices),
    so a coordinator with many due visits gets one message, not one per subject.

    A worker killed after the claim but before the mark leaves `sending`: such rows are never
    resent (no duplicate); notification_emails_expire reports them as failed.
    """
    if ids is None:
        ids = list(Notification.objects.filter(email_state=EmailState.QUEUED).values_list("pk", flat=True))
    rows = notification_email_claim(ids=ids) if ids else []
    if not rows:
        return 0
    by_user: dict[int, list] = {}
    for n in rows:
        by_user.setdefault(n.user_id, []).append(n)
    sent = 0
    pending = list(by_user.values())
    with get_connection(fail_silently=False) as mailer:
        for i, notes in enumerate(pending):
            user = notes[0].user
            if len(notes) == 1:
                n = notes[0]
                subject, body = n.title, "\n\n".join(part for part in (n.body, n.url) if part)
            else:
                kind = "visit reminders" if all(n.key.startswith("reminder:") for n in notes) else "notifications"
                subject = f"{len(notes)} {kind}"
                body = "\n\n".join(f"{n.title}\n{n.body}\n{n.url}" for n in notes)
            message = EmailMessage(subject=f"[ANGEL-RESCUE] {subject}", body=body, to=[user.email],
                                   connection=mailer)
            try:
                sent += message.send() or 0
            except OSError:
                notification_email_release(ids=[n.pk for later in pending[i:] for n in later])
                raise
            notification_email_done(ids=[n.pk for n in notes])
    return sent


def notification_emails_expire(*, now, lease_seconds: int) -> int:
    """E-mails claimed longer ago than the lease whose sender never reported back: failed
    (never resent — a person checks). The lease runs from the claim, so a notice that waited
    in the queue is not failed while it is being sent."""
    return Notification.objects.filter(email_state=EmailState.SENDING,
                                       email_claimed_at__lt=now - timedelta(seconds=lease_seconds)) \
        .update(email_state=EmailState.FAILED)


@transaction.atomic(durable=True)
def notification_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the user's notices read: the given ones, or all (ids None). Returns how many."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
