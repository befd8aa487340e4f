"""Access control: the one place that turns a user's memberships into site scope, allowed
actions and blinding. Every selector, view, export, API call and task goes through here.

Memberships are cached on the user object for the request, so a page asks the database for
them once, however many checks it makes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from core.models import Membership, Site
from core.roles import BLINDED_EVERYWHERE, PERMISSIONS, SEES_ARM, TWO_FACTOR_ROLES

_CACHE_ATTR = "_edc_memberships"


def user_memberships(user) -> list[Membership]:
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        load_memberships([user])
        cached = getattr(user, _CACHE_ATTR)
    return cached


def load_memberships(users) -> None:
    """Fill the membership cache of many users with one query (a notice to every investigator
    of a site decides the arm line per recipient: no query per recipient)."""
    pending = [u for u in users if getattr(u, _CACHE_ATTR, None) is None and u.is_authenticated and u.is_active]
    if not pending:
        return
    by_user: dict[int, list[Membership]] = {u.pk: [] for u in pending}
    for m in Membership.objects.filter(user__in=pending, active=True).select_related("site"):
        by_user[m.user_id].append(m)
    for u in pending:
        setattr(u, _CACHE_ATTR, by_user[u.pk])


def forget_memberships(user) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def user_roles(user) -> set[str]:
    return {m.role for m in user_memberships(user)}


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def _grants(user, action: str) -> list[Membership]:
    return [m for m in user_memberships(user) if action in PERMISSIONS.get(m.role, ())]


def sites_for(user, action: str) -> set[int] | None:
    """Site ids where `user` may do `action`; None means every site; empty set means none."""
    ids: set[int] = set()
    for m in _grants(user, action):
        if m.site_id is None:
            return None
        ids.add(m.site_id)
    return ids


def can(user, action: str, site: Site | int | None = None) -> bool:
    """May `user` do `action` (at `site`, when given)?"""
    allowed = sites_for(user, action)
    if allowed is None:
        return bool(_grants(user, action))
    if site is None:
        return bool(allowed)
    site_id = site if isinstance(site, int) else site.pk
    return site_id in allowed


def require(user, action: str, site: Site | int | None = None) -> None:
    if not can(user, action, site):
        raise PermissionDenied("You do not have permission for this action at this site.")


def scope(qs: QuerySet, user, action: str, site_field: str = "site") -> QuerySet:
    """Restrict a queryset to the sites where the user may do `action`."""
    allowed = sites_for(user, action)
    if allowed is None:
        return qs if _grants(user, action) else qs.none()
    if not allowed:
        return qs.none()
    return qs.filter(**{f"{site_field}__in": allowed})


def visible_sites(user) -> QuerySet[Site]:
    """Sites the user has any membership at (all sites for all-site memberships)."""
    ms = user_memberships(user)
    if any(m.site_id is None for m in ms):
        return Site.objects.all()
    return Site.objects.filter(pk__in={m.site_id for m in ms})


def sees_arm(user) -> bool:
    """The blinding rule (core.roles.SEES_ARM): a user sees the treatment arm only if at
    least one membership allows it and NO membership is a blinded one. Holding the blinded
    assessor role (or a central reader's, core.roles.BLINDED_EVERYWHERE) anywhere blinds the
    person everywhere."""
    ms = user_memberships(user)
    if not ms:
        return False
    if any(m.role in BLINDED_EVERYWHERE for m in ms):
        return False
    return any(SEES_ARM.get(m.role, False) for m in ms)


def sees_arm_at(user, site: Site | int) -> bool:
    """Arm visible for a subject of `site`: unblinded user with a seeing role there."""
    if not sees_arm(user):
        return False
    site_id = site if isinstance(site, int) else site.pk
    return any(
        SEES_ARM.get(m.role, False) and (m.site_id is None or m.site_id == site_id)
        for m in user_memberships(user)
    )


def needs_two_factor(user) -> bool:
    return bool(user_roles(user) & set(TWO_FACTOR_ROLES))


def primary_site(user) -> Site | None:
    for m in user_memberships(user):
        if m.site is not None:
            return m.site
    return None


def role_labels(user) -> list[str]:
    seen: list[str] = []
    for m in user_memberships(user):
        label = f"{m.get_role_display()} ({m.site.code if m.site else '*'})"
        if label not in seen:
            seen.append(label)
    return seen


def object_site_or_404(user, action: str, obj_site_id: int) -> None:
    """For detail views: an object of a site the user cannot act on is simply not found, so
    its existence is not leaked to other sites."""
    from django.http import Http404

    allowed = sites_for(user, action)
    if allowed is None and _grants(user, action):
        return
    if allowed is None or obj_site_id not in allowed:
        raise Http404


def any_of(user, actions: Iterable[str]) -> bool:
    return any(can(user, a) for a in actions)
