"""Electronic signatures (21 CFR 11): signing a visit or a casebook, and breaking signatures whose data changed.
"""

from __future__ import annotations

import hashlib
import json

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access, blinding
from core.roles import Action
from datamanagement.crfs import (
    display,
    field_label,
    instances_of_subject,
)
from datamanagement.exceptions import (
    SignatureError,
    WrongPassword,
)
from datamanagement.models import (
    Signature,
    SignatureScope,
)
from datamanagement.services.context import actor_metadata, own_audit_context

SIGNATURE_MEANINGS = {
    # In the signer's language: the meaning they read is the meaning recorded.
    SignatureScope.CASEBOOK: gettext_lazy("I, {name}, approve the data in this casebook of subject {subject}: I have "
                                          "reviewed them and they are accurate and complete to the best of my "
                                          "knowledge."),
    SignatureScope.VISIT: gettext_lazy("I, {name}, approve the data of visit {visit} of subject {subject}: I have "
                                       "reviewed them and they are accurate and complete to the best of my "
                                       "knowledge."),
}


def signature_meaning(*, user, subject, scope: str, visit: str = "") -> str:
    name = user.get_full_name() or user.username
    return str(SIGNATURE_MEANINGS[scope]).format(name=name, subject=subject.number, visit=visit)


def signature_content(subject, scope: str, visit: str = "") -> list[list]:
    """What a signature covers: every CRF instance of the subject (of the visit), with version."""
    out = []
    for crf, rows in instances_of_subject(subject):
        if scope == SignatureScope.VISIT and crf.visit != visit:
            continue
        out.extend([crf.code, row.pk, getattr(row, "version", 1)] for row in rows)
    return out


def signature_sign(*, user, subject, scope: str, visit: str = "", password: str, ip: str | None = None) -> Signature:
    """The investigator signs a visit or the casebook (21 CFR 11.50, 11.70, 11.200: the
    signature is executed by re-entering the password, and its meaning is part of the record).

    The password is checked before the signing transaction starts, so that a refused attempt
    is itself recorded (11.300(d)) instead of being rolled back with the refusal.
    """
    access.require(user, Action.SIGN, subject.site_id)
    if not password or not user.check_password(password):
        with transaction.atomic(durable=True):
            audit_event_record(action=AuditAction.SIGNATURE, actor=user, site=subject.site,
                               summary=f"Signature refused for {subject.number}: wrong password", ip=ip)
        raise WrongPassword()
    return _signature_create(user=user, subject=subject, scope=scope, visit=visit, ip=ip)


@transaction.atomic(durable=True)
def _signature_create(*, user, subject, scope: str, visit: str, ip: str | None) -> Signature:
    if scope not in SignatureScope.values:
        raise SignatureError(f"Scope: expected visit or casebook, found {scope!r}.")
    if scope == SignatureScope.VISIT and not visit:
        raise SignatureError(_("Visit: choose the visit to sign."))
    content = signature_content(subject, scope, visit if scope == SignatureScope.VISIT else "")
    if not content:
        raise SignatureError(_("There is no data to sign yet for this visit.") if visit
                             else _("There is no data to sign yet for this casebook."))
    meaning = signature_meaning(user=user, subject=subject, scope=scope, visit=visit)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    with own_audit_context(reason="electronic signature", **actor_metadata(user)):
        signature = Signature.objects.create(
            subject=subject, scope=scope, visit=visit if scope == SignatureScope.VISIT else "",
            signer=user, signer_name=user.get_full_name() or user.username, meaning=meaning,
            content_digest=digest, content=content,
        )
    audit_event_record(action=AuditAction.SIGNATURE, actor=user, site=subject.site, obj=signature,
                       summary=f"Signed {scope} {visit} of {subject.number}".replace("  ", " "),
                       detail={"meaning": meaning, "digest": digest}, ip=ip)
    return signature


def signatures_break_reason(*, crf, user, changed: dict, now) -> str:
    """Why the write guard's upkeep breaks the valid signatures of the subject that covered
    the changed data (its casebook, the form's visit)."""
    by = f" (by {getattr(user, 'username', 'system')}, {now:%Y-%m-%d %H:%M} UTC)"
    if blinding.reveals_arm(crf=crf, fields=changed):
        # The reason is read by blinded users too (data manager, administrator: the subject
        # page, the audit trail and its CSV): neither the form nor its values may appear —
        # "passes changed" alone tells the arm. The change itself is in the audit trail,
        # which shows it to unblinded users only.
        why = f"Data of {'visit ' + crf.visit if crf.visit else 'the casebook'} changed after signing" + by
    else:
        why = f"{crf.label} changed after signing — " + "; ".join(
            f"{field_label(crf, k)}: {display(o)} → {display(n)}" for k, (o, n) in changed.items()
        ) + by
    return why[:2000]
