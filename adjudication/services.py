"""Writes of central adjudication: material upload, case creation, reads, results and the
DSMB snapshot. Keyword-only; each public service is the outermost transaction.

Audit: Material, Case and Read rows are tracked by pghistory (every insert and update, with
the request's user and IP); uploads, refused uploads, material views and final reads also
write an action event (audit.AuditEvent). Events about reads carry no site, so no site-scoped
view of the audit trail can name a reader to the site.
"""

from __future__ import annotations

import os
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from adjudication import files, protocol
from adjudication.exceptions import (
    CaseNotAvailable,
    InvalidCutOff,
    NotYourRead,
    ReadLocked,
    UploadRefused,
)
from adjudication.models import Case, CaseStatus, Material, Read, ReadRole, ReadStatus, Resolution
from adjudication.protocol import CaseKind
from adjudication.selectors import reader_excluded_sites
from audit.models import AuditAction
from audit.services import audit_event_record
from core import access
from core.models import Subject
from core.roles import Action

MATERIAL_KIND_CASE = {protocol.KINDS[k].material: k for k in protocol.KINDS if protocol.KINDS[k].material}


def material_storage():
    return storages["material"]


# --- Upload -------------------------------------------------------------------------------------


def _refuse(*, user, subject, category, message, field="file"):
    # Written in its own transaction: the refusal is recorded although nothing is stored.
    with transaction.atomic():
        audit_event_record(action=AuditAction.OTHER, actor=user, site=subject.site, obj=subject,
                           summary=f"Material upload refused for {subject.number} ({category})",
                           detail={"event": "material_refused", "category": category, "reason": message})
    raise UploadRefused(message, field=field)


def material_upload(*, user, subject: Subject, category: str, uploaded) -> Material:
    """Check, de-identify and store one uploaded file for central review.

    1. the uploader may upload at the subject's site; arm-revealing material (the procedure's
       angiography) only by staff who know the arm there;
    2. size limit (settings.EDC_MATERIAL_MAX_BYTES), type from the content (never the name);
    3. DICOM: refused while it names the patient, other identifiers stripped (files.py);
    4. SHA-256 of what is stored, streamed to the storage backend in chunks;
    5. the Material row and its audit event in one transaction; the case is created when the
       material is complete.
    """
    access.require(user, Action.UPLOAD_MATERIAL, subject.site)
    if category not in protocol.MATERIAL_LABELS:
        raise UploadRefused(_("Material: choose one of the listed kinds of material."), field="category")
    if category in protocol.REVEALS_ARM and not access.sees_arm_at(user, subject.site):
        # A blinded assessor uploads the day-90 recording only.
        raise UploadRefused(_("Material: only the treating team uploads the procedure's angiography."),
                            field="category")
    if uploaded is None:
        raise UploadRefused(_("File: choose a file to upload."))
    limit = settings.EDC_MATERIAL_MAX_BYTES
    if uploaded.size > limit:
        _refuse(user=user, subject=subject, category=category,
                message=_("File: %(size)s bytes is larger than the limit of %(limit)s bytes.")
                % {"size": uploaded.size, "limit": limit})
    if uploaded.size == 0:
        _refuse(user=user, subject=subject, category=category, message=_("File: the file is empty."))
    uploaded.seek(0)
    head = uploaded.read(512)
    uploaded.seek(0)
    sniffed = files.sniff(head)
    accepted = protocol.ACCEPTED_KINDS[category]
    if sniffed is None or sniffed.kind not in accepted:
        _refuse(user=user, subject=subject, category=category,
                message=_("File: its content is not an accepted type for %(material)s (accepted: %(kinds)s).")
                % {"material": protocol.MATERIAL_LABELS[category], "kinds": ", ".join(sorted(accepted))})
    cleaned_path, removed = None, []
    source = uploaded
    try:
        if sniffed.kind == "dicom":
            copied = not hasattr(uploaded, "temporary_file_path")
            path = _local_path(uploaded)
            try:
                cleaned_path, removed = files.dicom_deidentify(path, pseudonym=subject.number)
            except files.IdentifyingDicom as exc:
                _refuse(user=user, subject=subject, category=category, message=str(exc))
            finally:
                if copied:
                    os.unlink(path)
            source = open(cleaned_path, "rb")  # noqa: SIM115 (closed below)
        digest, size = files.sha256_of(source)
        name = f"{subject.site.code}/{subject.number}/{category}/{uuid.uuid4().hex}.{sniffed.extension}"
        stored = material_storage().save(name, File(source, name=name))
    finally:
        if cleaned_path:
            source.close()
            os.unlink(cleaned_path)
    return _material_record(user=user, subject=subject, category=category, sniffed=sniffed,
                            stored=stored, size=size, digest=digest, removed=removed)


def _local_path(uploaded) -> str:
    """A path on disk for pydicom: the upload's temporary file, or a copy of a small
    in-memory upload."""
    if hasattr(uploaded, "temporary_file_path"):
        return uploaded.temporary_file_path()
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return out.name


@transaction.atomic(durable=True)
def _material_record(*, user, subject, category, sniffed, stored, size, digest, removed) -> Material:
    visit = protocol.MATERIAL_VISIT[category]
    n = Material.objects.filter(subject=subject, category=category).count() + 1
    material = Material.objects.create(
        subject=subject, category=category, kind=sniffed.kind, content_type=sniffed.content_type,
        display_name=f"{visit}-{n:04d}.{sniffed.extension}", storage_name=stored, size=size,
        sha256=digest, deidentified=removed, reveals_arm=category in protocol.REVEALS_ARM,
        uploaded_by=user)
    audit_event_record(action=AuditAction.OTHER, actor=user, site=subject.site, obj=material,
                       summary=f"Material uploaded for {subject.number}: {material.display_name}",
                       detail={"event": "material_upload", "category": category, "sha256": digest,
                               "size": size, "deidentified": removed},
                       reveals_allocation=material.reveals_arm)
    cases_refresh(subject=subject)
    return material


def material_view_record(*, user, material: Material) -> None:
    """Every opening of a file is an audit event (who, when, which file)."""
    with transaction.atomic():
        audit_event_record(action=AuditAction.OTHER, actor=user, site=None, obj=material,
                           summary=f"Material viewed: {material.display_name}",
                           detail={"event": "material_view", "material": material.pk,
                                   "sha256": material.sha256},
                           reveals_allocation=material.reveals_arm)


# --- Cases (worklist tasks) ------------------------------------------------------------------------


def cases_refresh(*, subject: Subject) -> list[Case]:
    """Create the cases whose material is complete (in the caller's transaction): one per
    uploaded kind of material, and the committee's sICH case when the site reported a new
    ICH at 48 h or the core lab saw one. Idempotent (UNIQUE subject, kind)."""
    kinds = {MATERIAL_KIND_CASE[c] for c in
             Material.objects.filter(subject=subject).values_list("category", flat=True).distinct()}
    if _has_ich(subject):
        kinds.add(CaseKind.SICH)
    Case.objects.bulk_create([Case(subject=subject, site_id=subject.site_id, kind=k) for k in sorted(kinds)],
                             ignore_conflicts=True)
    return list(Case.objects.filter(subject=subject))


def _has_ich(subject) -> bool:
    from followup.models import Visit48h

    if Visit48h.objects.filter(subject=subject, new_ich=True).exists():
        return True
    return Case.objects.filter(subject=subject, kind=CaseKind.FOLLOWUP, status=CaseStatus.FINAL,
                               final_values__ich=True).exists()


@transaction.atomic(durable=True)
def cases_refresh_all() -> int:
    """The periodic sweep (adjudication.tasks): cases for material uploaded and for ICHs
    reported on the 48-hour form since the last run. Set-based: three statements."""
    from followup.models import Visit48h

    before = Case.objects.count()
    pairs = set(Material.objects.values_list("subject_id", "subject__site_id", "category").distinct())
    wanted = {(sid, site, MATERIAL_KIND_CASE[cat]) for sid, site, cat in pairs}
    wanted |= {(sid, site, CaseKind.SICH) for sid, site in
               Visit48h.objects.filter(new_ich=True).values_list("subject_id", "subject__site_id")}
    Case.objects.bulk_create([Case(subject_id=s, site_id=site, kind=k) for s, site, k in sorted(wanted)],
                             ignore_conflicts=True, batch_size=1000)
    return Case.objects.count() - before


# --- Reads -------------------------------------------------------------------------------------


def _require_reader(user, case: Case) -> None:
    action = protocol.KINDS[case.kind].action
    if not access.can(user, action):
        raise CaseNotAvailable(_("You do not read this kind of case."))
    if case.site_id in reader_excluded_sites(user):
        # SOP: no reader reads a case of his own hospital (he may know the patient, the arm).
        raise CaseNotAvailable(_("Case %(case)s is from your own site: it is read by others.")
                               % {"case": case.reference})


def _lock_case(case: Case) -> Case:
    # Race prevented: two readers claiming the last free read of a case at once; the case
    # row is locked, the read slot is UNIQUE (case, number) as the backstop.
    return Case.objects.select_for_update(no_key=True).get(pk=case.pk)


@transaction.atomic(durable=True)
def read_claim(*, user, case: Case) -> Read:
    """Take the next free read of a case: read 1 or 2 (independent), or the third read
    after a disagreement — never a second read of the same case by the same reader."""
    case = _lock_case(case)
    _require_reader(user, case)
    mine = Read.objects.filter(case=case, reader=user).first()
    if mine is not None:
        if mine.status == ReadStatus.DRAFT:
            return mine
        raise CaseNotAvailable(_("You have already read case %(case)s.") % {"case": case.reference})
    if case.status == CaseStatus.OPEN and case.reads_claimed < protocol.READS_PER_CASE:
        number, role = case.reads_claimed + 1, ReadRole.INDEPENDENT
    elif case.status == CaseStatus.DISAGREEMENT and case.reads_claimed == protocol.READS_PER_CASE:
        number, role = 3, ReadRole.THIRD
    else:
        raise CaseNotAvailable(_("Case %(case)s has no free read.") % {"case": case.reference})
    try:
        with transaction.atomic():
            read = Read.objects.create(case=case, number=number, role=role, reader=user)
    except IntegrityError:
        raise CaseNotAvailable(_("Case %(case)s has no free read.") % {"case": case.reference}) from None
    Case.objects.filter(pk=case.pk).update(reads_claimed=F("reads_claimed") + 1, version=F("version") + 1)
    return read


@transaction.atomic(durable=True)
def read_save(*, user, read: Read, data, finalize: bool = False) -> Read:
    """Save a read's values (validated by protocol.clean_values); with `finalize` the read is
    final and locked, and the case is evaluated: agreement → final; disagreement → third read
    or consensus; the third read's values → final."""
    case = _lock_case(read.case)
    read = Read.objects.select_for_update(no_key=True).get(pk=read.pk)
    if read.reader_id != user.pk:
        raise NotYourRead(_("Only the reader who took this read can save it."))
    if read.status == ReadStatus.FINAL:
        raise ReadLocked(_("Read %(n)s of case %(case)s is final and locked.") % {"n": read.number, "case": case.reference})
    _require_reader(user, case)
    read.values = protocol.clean_values(case.kind, data)
    read.note = str(data.get("note") or "").strip()
    read.version += 1
    if finalize:
        read.status = ReadStatus.FINAL
        read.finalized_at = timezone.now()
    read.save()
    if finalize:
        audit_event_record(action=AuditAction.OTHER, actor=user, obj=read,
                           summary=f"Read {read.number} of case {case.reference} ({case.kind}) final",
                           detail={"event": "adjudication_read_final", "case": case.pk, "number": read.number})
        _case_evaluate(case)
    return read


@transaction.atomic(durable=True)
def consensus_record(*, user, case: Case, data, note: str) -> Read:
    """After a disagreement the readers may meet instead of a third read: the consensus is
    recorded as read 3 (who took part and why in the note) and makes the case final."""
    case = _lock_case(case)
    _require_reader(user, case)
    if case.status != CaseStatus.DISAGREEMENT or case.reads_claimed != protocol.READS_PER_CASE:
        raise CaseNotAvailable(_("Case %(case)s is not awaiting a third read or consensus.") % {"case": case.reference})
    if not (note or "").strip():
        raise protocol.InvalidRead("note", str(_("name who took part in the consensus meeting and what was decided.")))
    read = Read.objects.create(case=case, number=3, role=ReadRole.CONSENSUS, reader=user,
                               values=protocol.clean_values(case.kind, data), note=note.strip(),
                               status=ReadStatus.FINAL, finalized_at=timezone.now())
    Case.objects.filter(pk=case.pk).update(reads_claimed=F("reads_claimed") + 1)
    audit_event_record(action=AuditAction.OTHER, actor=user, obj=read,
                       summary=f"Consensus recorded for case {case.reference} ({case.kind})",
                       detail={"event": "adjudication_consensus", "case": case.pk})
    case.refresh_from_db()
    _case_evaluate(case)
    return read


def _case_evaluate(case: Case) -> None:
    reads = {r.number: r for r in Read.objects.filter(case=case, status=ReadStatus.FINAL)}
    if 3 in reads:
        resolution = Resolution.CONSENSUS if reads[3].role == ReadRole.CONSENSUS else Resolution.THIRD_READ
        _case_finalize(case, reads[3].values, resolution)
    elif 1 in reads and 2 in reads:
        if protocol.agree(case.kind, reads[1].values, reads[2].values):
            _case_finalize(case, reads[1].values, Resolution.AGREEMENT)
        else:
            case.status = CaseStatus.DISAGREEMENT
            case.version += 1
            case.save(update_fields=["status", "version"])


def _case_finalize(case: Case, values: dict, resolution: str) -> None:
    case.status = CaseStatus.FINAL
    case.final_values = {k: values.get(k) for k in protocol.KINDS[case.kind].fields}
    case.resolution = resolution
    case.finalized_at = timezone.now()
    case.version += 1
    case.save(update_fields=["status", "final_values", "resolution", "finalized_at", "version"])
    if case.kind == CaseKind.ANGIO:
        grade = protocol.eligibility_contradiction(case.final_values)
        if grade is not None:
            _eligibility_query(case, field="verdict_status", check="CORELAB_IN8", text=_(
                "Core lab: the eTICI after the last thrombectomy pass before randomization is %(grade)s; "
                "IN8 requires eTICI 0–1. This is a protocol deviation: please review the screening "
                "passes and file a protocol deviation in the casebook.") % {"grade": grade})
    if case.kind == CaseKind.ASPECTS:
        for key, label in (("aspects", "ASPECTS"), ("pc_aspects", "pc-ASPECTS")):
            score = case.final_values.get(key)
            if score is not None and score < 6:
                _eligibility_query(case, field=key, check="CORELAB_IN5", text=_(
                    "Core lab: %(scale)s on the baseline imaging is %(score)s; IN5 requires ≥ 6. "
                    "This is a protocol deviation: please review and file a protocol deviation "
                    "in the casebook.") % {"scale": label, "score": score})
    if case.kind == CaseKind.FOLLOWUP and case.final_values.get("ich"):
        cases_refresh(subject=case.subject)


def _eligibility_query(case: Case, *, field: str, check: str, text: str) -> None:
    """Query back to the site when the core lab contradicts eligibility: an edit-check-style
    query (no person named as its author, so the reader stays anonymous to the site),
    flagged as a protocol deviation, on the subject's screening CRF."""
    from core import crf as registry
    from core.models import Membership
    from core.roles import Role
    from core.services import notification_create
    from datamanagement.models import MessageKind, Query, QueryMessage, QueryOrigin
    from randomization.models import Allocation

    screening_id = Allocation.objects.filter(subject_id=case.subject_id).values_list("screening_id", flat=True).first()
    if screening_id is None:
        return
    screening = registry.get("SCREENING").model.objects.get(pk=screening_id)
    query = Query.objects.create(
        crf_code="SCREENING", object_id=screening.pk, field_name=field, object_label=screening.number,
        site_id=case.site_id, subject_id=case.subject_id, origin=QueryOrigin.EDIT_CHECK, check_code=check,
        protocol_deviation=True, text=text)
    QueryMessage.objects.create(query=query, kind=MessageKind.OPEN, author=None, text=text)
    Case.objects.filter(pk=case.pk).update(query=query)
    audit_event_record(action=AuditAction.QUERY, site=case.site, obj=query,
                       summary=f"Core-lab finding {check} queried on {screening.number}",
                       detail={"case": case.pk, "check": check})
    staff = [m.user for m in Membership.objects.filter(
        site_id=case.site_id, active=True, role__in=[Role.COORDINATOR, Role.INVESTIGATOR]).select_related("user")]
    notification_create(users=staff, key=f"corelab:{case.pk}:{check}",
                        title=_("Core-lab finding on %(number)s") % {"number": screening.number},
                        body=text, url=f"/data/queries/{query.pk}/", subject=case.subject, email=False)


# --- DSMB snapshot -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def dsmb_snapshot_take(*, user, cut_off):
    """Freeze the rows of every subject randomized up to the statistician's data cut-off.
    The snapshot is never changed (a trigger refuses UPDATE and DELETE); its SHA-256 is of
    the canonical JSON, so a report can be shown to come from it."""
    import datetime as dt
    import hashlib
    import json

    from adjudication.dsmb import snapshot_rows
    from adjudication.models import DsmbSnapshot

    access.require(user, Action.DSMB_REPORT)
    if not access.sees_arm(user):
        raise PermissionDenied("The DSMB snapshot is taken by the unblinded statistician.")
    if isinstance(cut_off, str):
        try:
            cut_off = dt.datetime.fromisoformat(cut_off.strip())
        except ValueError:
            raise InvalidCutOff(_("Data cut-off: give a date and time, e.g. 2026-06-30 23:59."),
                                field="cut_off") from None
    if timezone.is_naive(cut_off):
        cut_off = timezone.make_aware(cut_off, dt.UTC)
    if cut_off > timezone.now():
        raise InvalidCutOff(_("Data cut-off: it cannot be in the future."), field="cut_off")
    rows = snapshot_rows(cut_off)
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    snap = DsmbSnapshot.objects.create(cut_off=cut_off, taken_by=user, rows=json.loads(canonical),
                                       sha256=hashlib.sha256(canonical.encode()).hexdigest())
    audit_event_record(action=AuditAction.EXPORT, actor=user, obj=snap, reveals_allocation=True,
                       summary=f"DSMB snapshot at data cut-off {cut_off:%Y-%m-%d %H:%M} UTC ({len(rows)} subjects)",
                       detail={"event": "dsmb_snapshot", "sha256": snap.sha256})
    return snap

