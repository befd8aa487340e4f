"""ODM 1.3.2 of one subject: the exports' ODM writer (exports.formats.odm) restricted to one
SubjectData. Who sees what is decided as for every other answer of the API: the forms are the
instruments of the user's project at the subject's site (api.redcap.project asks
datamanagement.permissions and core.blinding), and the document is blinded — no
randomization form or item group, no arm-revealing form or field — unless core.blinding lets
the user see the arm at that site.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from core import blinding
from exports.columns import RANDOMIZATION, subject_ref, tables
from exports.dataset import Scope, crf_queryset
from exports.formats.odm import MDV_OID, STUDY_OID, OdmWriter, q


class SubjectOdmWriter(OdmWriter):
    """ClinicalData holds the one subject; study metadata and admin data as in an export."""

    def __init__(self, table_list, scope: Scope, *, subject, file_oid: str):
        super().__init__(table_list, scope, file_oid=file_oid)
        self.subject = subject

    def _clinical(self, xf, known_users: set[int]):
        s = self.subject
        with xf.element(q("ClinicalData"), StudyOID=STUDY_OID, MetaDataVersionOID=MDV_OID):
            forms_by_event = {}
            for event, event_tables in self._events().items():
                forms = []
                for t in event_tables:
                    ref = subject_ref(t.crf)
                    if ref is None:
                        continue
                    rows = self._rows_for(t, ref.for_subjects(crf_queryset(t.crf, self.scope), [s.pk]),
                                          ref.id_expr()).get(s.pk)
                    if rows:
                        forms.append((t, rows))
                if forms:
                    forms_by_event[event] = forms
            self._subject(xf, s.number, s.site.code, forms_by_event, known_users)


def subject_odm(*, user, subject) -> bytes:
    """The ODM document of `subject` as `user` may see it (the caller has checked that the user
    may read the subject: followup.selectors.subject_for)."""
    from api.redcap.project import Project

    blinded = not blinding.may_see_arm(user, subject.site_id)
    codes = [inst.crf.code for inst in Project(user).instruments
             if inst.kind == "crf" and subject.site_id in inst.site_ids]
    # tables() gives the randomization table to an unblinded document only
    table_list = [t for t in tables(blinded=blinded) if t.code in codes or t.code == RANDOMIZATION]
    scope = Scope(blinded=blinded, site_ids=(subject.site_id,), forms=tuple(codes))
    with tempfile.TemporaryDirectory(prefix="odm-") as tmp:
        path = Path(tmp) / "subject.xml"
        SubjectOdmWriter(table_list, scope, subject=subject, file_oid=f"ODM.SUBJECT.{subject.number}").write(path)
        return path.read_bytes()
