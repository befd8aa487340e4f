"""Reads of the exports app: every query a user can trigger, scoped by core.access."""

from __future__ import annotations

from django.http import Http404

from core import access, blinding
from core.models import Site
from core.roles import Action
from exports.columns import exported_crfs
from exports.models import Export


def may_export(user) -> bool:
    return access.can(user, Action.EXPORT_BLINDED)


def may_export_unblinded(user) -> bool:
    return access.can(user, Action.EXPORT_UNBLINDED) and blinding.may_see_arm(user)


def export_sites(user):
    return access.scope(Site.objects.order_by("code"), user, Action.EXPORT_BLINDED, site_field="pk")


def export_forms(user) -> list:
    """Forms the user may choose: arm-revealing forms only for an unblinded exporter."""
    return exported_crfs(blinded=not may_export_unblinded(user))


def export_list(user, limit: int = 20):
    """A user's own exports (an export file is for the person who asked for it)."""
    return Export.objects.filter(requested_by=user).select_related("requested_by")[:limit]


def export_get(user, export_id) -> Export:
    """The user's own export, still within their current rights, or 404.

    Rights are checked again at download: a revoked role, lost site or lost unblinded
    permission stops the download of an earlier file."""
    export = Export.objects.filter(pk=export_id, requested_by=user).first()
    if export is None or not may_export(user):
        raise Http404
    if not export.blinded and not may_export_unblinded(user):
        raise Http404
    allowed = access.sites_for(user, Action.EXPORT_BLINDED)
    if allowed is not None and not set(export.site_ids) <= allowed:
        raise Http404
    return export
