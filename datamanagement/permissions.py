"""Who may do what with queries, SDV, signatures and locks — answered from core.roles through
core.access, plus the two rules specific to forms: who enters a form (CRF.entered_by) and
which forms blinded users never see (CRF.reveals_arm)."""

from __future__ import annotations

from core import access, blinding
from core.crf import CRF
from core.roles import PERMISSIONS, Action


def sees_form(user, crf: CRF) -> bool:
    """Forms that reveal the arm (the procedure CRF) are invisible to blinded users."""
    return blinding.sees_form(user, crf)


def _memberships_at(user, site_id: int):
    return [m for m in access.user_memberships(user) if m.site_id is None or m.site_id == site_id]


def can_enter(user, crf: CRF, site_id: int) -> bool:
    """Enter/correct data of this form at this site: a role that enters the form, with the
    permission to enter CRFs (the day-90 form: the blinded assessor's ENTER_DAY90)."""
    if not sees_form(user, crf):
        return False
    for m in _memberships_at(user, site_id):
        perms = PERMISSIONS.get(m.role, ())
        if m.role in crf.entered_by and (Action.ENTER_CRF in perms or Action.ENTER_DAY90 in perms):
            return True
    return False


def can_answer(user, crf: CRF, site_id: int) -> bool:
    """Site staff answer queries on the forms they enter; an assessor only on the day-90 form."""
    if not sees_form(user, crf):
        return False
    return any(
        Action.ANSWER_QUERY in PERMISSIONS.get(m.role, ()) and m.role in crf.entered_by
        for m in _memberships_at(user, site_id)
    )


def can_raise(user, crf: CRF, site_id: int) -> bool:
    """Monitors (their sites) and data managers raise, close and re-open queries."""
    return sees_form(user, crf) and access.can(user, Action.RAISE_QUERY, site_id)


def can_view_crf(user, crf: CRF, site_id: int) -> bool:
    if not sees_form(user, crf):
        return False
    return (access.can(user, Action.VIEW_CRF, site_id) or can_enter(user, crf, site_id)
            or can_answer(user, crf, site_id))


def can_sdv(user, crf: CRF, site_id: int) -> bool:
    return sees_form(user, crf) and access.can(user, Action.SDV, site_id)
