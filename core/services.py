from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_event_record
from core.access import forget_memberships, require
from core.models import Membership, Site, SiteCounter, User
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
