from datetime import timedelta

from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import ngettext

from audit.models import AuditAction
from audit.services import audit_event_record
from core import i18n
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


def separation_of_duties_check(*, by: User | None, user: User, role: str) -> None:
    """An administrator never grants himself a clinical or unblinded role (or any role but
    administrator): a second administrator must. Otherwise one person could unblind himself
    or enter data under a clinical role without anyone else taking part."""
    from core.roles import Role

    if by is not None and by.pk == user.pk and role != Role.ADMIN:
        raise MembershipError(
            f"Role: you cannot grant yourself the role {role}; another administrator must do it "
            "(separation of duties).")


@transaction.atomic  # not durable: the admin's change view calls it inside its own transaction
def membership_grant(*, user: User, role: str, site: Site | None, by: User | None = None,
                     reason: str = "") -> Membership:
    """Grant a role (at a site). `by` is the administrator (None: seeding / the system); the
    reason is recorded in the audit event."""
    if by is not None:
        require(by, Action.ADMINISTER)
    separation_of_duties_check(by=by, user=user, role=role)
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
            summary=f"Granted {role} at {site.code if site else 'all sites'} to {user.username}"
                    + (f" by {by.username}" if by is not None else ""),
            reason=reason,
        )
    forget_memberships(user)
    return membership


@transaction.atomic
def user_password_set_by_admin(*, by: User, user: User, password: str, reason: str) -> User:
    """An administrator sets another user's password: it is temporary — the user must choose
    his own at the next sign-in (User.must_change_password) — and it is an audit event naming
    both. An administrator cannot set a password silently and then sign in as that user."""
    require(by, Action.ADMINISTER)
    if not (reason or "").strip():
        raise MembershipError("Reason: a reason is required to set another user's password.")
    if by.pk == user.pk:
        raise MembershipError("User: change your own password on the password change page.")
    user.set_password(password)
    fields = ["password"]
    if hasattr(user, "must_change_password"):
        user.must_change_password = True
        fields.append("must_change_password")
    user.save(update_fields=fields)
    audit_event_record(action=AuditAction.PASSWORD_SET, actor=by, obj=user, reason=reason.strip(),
                       summary=f"Temporary password of {user.username} set by {by.username} "
                               "(change forced at next sign-in)",
                       detail={"event": "password_set", "user": user.username, "by": by.username})
    return user


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
    mailed = email or email_by_caller
    # title and body may be deferred texts (core.i18n): each notice is written in its
    # recipient's preferred language.
    rows = [Notification(user=u, key=key, subject=subject, title=i18n.text_for(u, title)[:200],
                         body=i18n.text_for(u, body), url=url,
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
            # Links in e-mails are absolute (EDC_BASE_URL): a mail client has no page to be
            # relative to. The in-app notice keeps its path.
            if len(notes) == 1:
                n = notes[0]
                subject, body = n.title, "\n\n".join(part for part in (n.body, absolute_url(n.url) if n.url else "")
                                                        if part)
            else:
                count = len(notes)
                with translation.override(i18n.language_of(user)):
                    if all(n.key.startswith("reminder:") for n in notes):
                        subject = ngettext("%(n)s visit reminder", "%(n)s visit reminders", count) % {"n": count}
                    else:
                        subject = ngettext("%(n)s notification", "%(n)s notifications", count) % {"n": count}
                body = "\n\n".join("\n".join(part for part in (n.title, n.body, absolute_url(n.url) if n.url else "")
                                              if part) for n in notes)
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


# --- Site user administration (administrators; every change audited with its reason) ----------


class UserAdminError(ValueError):
    """An administration request was refused; the message names the field and the rule."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise UserAdminError("Reason: say why (it is kept in the audit trail).", field="reason")
    return reason


def temporary_password() -> str:
    """A one-time password for an invitation or a reset (shown once to the administrator)."""
    import secrets

    return "Tmp-" + secrets.token_urlsafe(12)


@transaction.atomic(durable=True)
def user_invite(*, by: User, username: str, first_name: str, last_name: str, email: str, role: str,
                site: Site | None, reason: str) -> tuple[User, str]:
    """Create a user with one membership and a temporary password that must be changed at the
    first sign-in; e-mail the invitation (absolute sign-in link, no password). Returns the user
    and the temporary password, which the administrator hands over by another channel."""
    require(by, Action.ADMINISTER)
    reason = _reason_required(reason)
    username = (username or "").strip()
    if not username:
        raise UserAdminError("Username: required.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise UserAdminError(f"Username: {username!r} is taken; choose another.", field="username")
    if not (email or "").strip():
        raise UserAdminError("E-mail: required (the invitation is sent there).", field="email")
    if role in ALL_SITE_ROLES and site is not None:
        raise UserAdminError("Site: this role spans all sites; leave the site empty.", field="site")
    if role not in ALL_SITE_ROLES and role != "monitor" and site is None:
        raise UserAdminError("Site: a site role needs a site; choose the user's site.", field="site")
    password = temporary_password()
    user = User.objects.create_user(username=username, email=email.strip(), password=password,
                                    first_name=first_name.strip(), last_name=last_name.strip(),
                                    must_change_password=True)
    membership_grant(user=user, role=role, site=site, by=by)
    audit_event_record(action=AuditAction.MEMBERSHIP_CHANGED, actor=by, site=site, obj=user, reason=reason,
                       summary=f"User {username} invited by {by.username} as {role} at "
                               f"{site.code if site else 'all sites'}",
                       detail={"event": "invited", "user": username, "by": by.username})
    login_url = absolute_url("/account/login/")
    text = (f"{user.get_full_name() or username},\n\nYou have an account on the ANGEL-RESCUE EDC.\n"
            f"Username: {username}\nSign in: {login_url}\n\nThe administrator ({by.get_full_name() or by.username}) "
            "gives you a temporary password; you choose your own at the first sign-in.\n")
    transaction.on_commit(lambda: EmailMessage("ANGEL-RESCUE EDC: your account", text, to=[user.email]).send(
        fail_silently=True), robust=True)
    return user, password


@transaction.atomic(durable=True)
def user_password_reset(*, by: User, user: User, reason: str) -> str:
    """A new temporary password that must be changed at the next sign-in; the audit event
    names both the administrator and the user."""
    require(by, Action.ADMINISTER)
    reason = _reason_required(reason)
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    audit_event_record(action=AuditAction.OTHER, actor=by, obj=user, reason=reason,
                       summary=f"Password of {user.username} reset by {by.username} (change forced at next sign-in)",
                       detail={"event": "password_reset", "user": user.username, "by": by.username})
    return password


@transaction.atomic(durable=True)
def user_set_active(*, by: User, user: User, active: bool, reason: str) -> User:
    """Deactivate (no sign-in, nothing deleted) or reactivate a user."""
    require(by, Action.ADMINISTER)
    reason = _reason_required(reason)
    if user.pk == by.pk and not active:
        raise UserAdminError("User: you cannot deactivate your own account.", field="user")
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_event_record(action=AuditAction.MEMBERSHIP_CHANGED, actor=by, obj=user, reason=reason,
                       summary=f"User {user.username} {'reactivated' if active else 'deactivated'} by {by.username}",
                       detail={"event": "activated" if active else "deactivated", "user": user.username,
                               "by": by.username})
    forget_memberships(user)
    return user


@transaction.atomic(durable=True)
def user_membership_add(*, by: User, user: User, role: str, site: Site | None, reason: str) -> Membership:
    require(by, Action.ADMINISTER)
    reason = _reason_required(reason)
    try:
        membership = membership_grant(user=user, role=role, site=site, by=by)
    except MembershipError as exc:
        raise UserAdminError(f"Site: {exc}", field="site") from exc
    audit_event_record(action=AuditAction.MEMBERSHIP_CHANGED, actor=by, site=site, obj=membership, reason=reason,
                       summary=f"Reason for granting {role} at {site.code if site else 'all sites'} to {user.username}")
    return membership


@transaction.atomic(durable=True)
def user_membership_revoke(*, by: User, membership: Membership, reason: str) -> Membership:
    reason = _reason_required(reason)
    return membership_revoke(membership=membership, by=by, reason=reason)


@transaction.atomic(durable=True)
def password_change_forced(*, user: User, password: str) -> User:
    """The user chose their own password (at the sign-in after an invitation or a reset)."""
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    audit_event_record(action=AuditAction.OTHER, actor=user, obj=user,
                       summary=f"{user.username} chose a new password (forced change)",
                       detail={"event": "password_changed"})
    return user


def absolute_url(path: str) -> str:
    """An absolute link for e-mails: EDC_BASE_URL (e.g. https://edc.example.org) + path. The
    one helper every e-mail builder uses for its links (tests/conftest.py checks every e-mail
    the tests send for a relative one)."""
    from django.conf import settings

    base = getattr(settings, "EDC_BASE_URL", "") or "http://127.0.0.1:8000"
    if path.startswith(("http://", "https://")):
        return path
    return base.rstrip("/") + "/" + path.lstrip("/")
