"""Writes of the exports app: request an export, run it, record progress, finish or fail.

Every export is audited twice in the audit trail (audit.AuditEvent, action "export"): when
requested (who, formats, forms, sites, blinded or not) and when the file is written (its
SHA-256, size and row counts) — or when it fails.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_event_record
from core import access, blinding
from core.models import Site
from core.roles import Action
from exports import metadata
from exports.columns import exported_crfs
from exports.dataset import Scope
from exports.exceptions import ExportInvalid, ExportNotPermitted
from exports.models import Export, ExportFormat, ExportStatus

# A running export whose worker vanished is taken over by a redelivered task after this long
# (Celery acks_late redelivers after the broker's visibility timeout).
STALE_AFTER = dt.timedelta(minutes=15)


def export_scope_for(*, user, blinded: bool = True, site_ids: list[int] | None = None,
                     forms: list[str] | None = None) -> Scope:
    """The scope `user` may export: checks the role, the sites and the blinding rule.

    Unblinded exports are for the unblinded statistician only (SPEC §2, §9): the action
    EXPORT_UNBLINDED and a person who may see the arm at all (core.access.sees_arm).
    """
    if not access.can(user, Action.EXPORT_BLINDED):
        raise ExportNotPermitted(_("Exports are for data managers, monitors, the statistician and "
                                   "administrators; your roles do not include exports."))
    if not blinded and not (access.can(user, Action.EXPORT_UNBLINDED) and blinding.may_see_arm(user)):
        raise ExportNotPermitted(_("An unblinded export (with the treatment arm) is for the "
                                   "unblinded statistician only; ask for a blinded export instead."))
    allowed = access.sites_for(user, Action.EXPORT_BLINDED)
    all_ids = set(Site.objects.values_list("pk", flat=True))
    allowed_ids = all_ids if allowed is None else allowed & all_ids
    if site_ids:
        requested = {int(s) for s in site_ids}
        outside = requested - allowed_ids
        if outside:
            codes = sorted(Site.objects.filter(pk__in=outside).values_list("code", flat=True))
            raise ExportNotPermitted(_("You may export only your own sites; not permitted: %(sites)s.")
                                     % {"sites": ", ".join(codes) or _("unknown site")})
        chosen_sites = requested
    else:
        chosen_sites = allowed_ids
    if not chosen_sites:
        raise ExportNotPermitted(_("You have no site to export."))
    codes = [c for c in (forms or []) if c]
    if codes:
        available = {c.code for c in exported_crfs(blinded=blinded)}
        every = {c.code for c in exported_crfs(blinded=False)}
        hidden = [c for c in codes if c in every and c not in available]
        if hidden:
            raise ExportNotPermitted(_("A blinded export cannot contain %(forms)s: it reveals the "
                                       "treatment arm.") % {"forms": ", ".join(hidden)})
        unknown = [c for c in codes if c not in every]
        if unknown:
            raise ExportInvalid(_("Unknown form %(found)s; expected one of %(expected)s.")
                                % {"found": ", ".join(unknown), "expected": ", ".join(sorted(available))})
    return Scope(blinded=blinded, site_ids=tuple(sorted(chosen_sites)), forms=tuple(codes))


def _check_formats(formats: list[str]) -> list[str]:
    valid = [f.value for f in ExportFormat]
    chosen = [f for f in valid if f in set(formats)]
    unknown = sorted(set(formats) - set(valid))
    if unknown:
        raise ExportInvalid(_("Unknown format %(found)s; expected %(expected)s.")
                            % {"found": ", ".join(unknown), "expected": ", ".join(valid)})
    if not chosen:
        raise ExportInvalid(_("Choose at least one format (%(expected)s).") % {"expected": ", ".join(valid)})
    return chosen


@transaction.atomic(durable=True)
def export_request(*, user, formats: list[str], blinded: bool = True,
                   site_ids: list[int] | None = None, forms: list[str] | None = None,
                   dispatch: bool = True, label_language: str = "en") -> Export:
    """Record an export request (audited) and start the Celery task after commit."""
    chosen = _check_formats(formats)
    if label_language not in {code for code, _name in settings.LANGUAGES}:
        raise ExportInvalid(_("Label language: %(found)s is not one of %(expected)s.") % {
            "found": label_language, "expected": ", ".join(code for code, _name in settings.LANGUAGES)})
    scope = export_scope_for(user=user, blinded=blinded, site_ids=site_ids, forms=forms)
    export = Export.objects.create(requested_by=user, formats=chosen, forms=list(scope.forms),
                                   site_ids=list(scope.site_ids), blinded=scope.blinded,
                                   label_language=label_language)
    site_codes = list(Site.objects.filter(pk__in=scope.site_ids).order_by("code")
                      .values_list("code", flat=True))
    audit_event_record(
        action=AuditAction.EXPORT, actor=user, obj=export,
        summary=f"Export requested: {', '.join(chosen)} "
                f"({'blinded' if scope.blinded else 'UNBLINDED'}), sites {', '.join(site_codes)}",
        detail={"event": "requested", "export": str(export.pk), "formats": chosen,
                "forms": list(scope.forms) or "all", "sites": site_codes,
                "blinded": scope.blinded},
    )
    if dispatch:
        from exports.tasks import export_run_task

        transaction.on_commit(lambda: export_run_task.delay(str(export.pk)))
    return export


def export_claim(*, export_id) -> Export | None:
    """Take the export for this run: queued → running (or a stale running one). Returns None
    when another run holds it or it is finished, so a task delivered twice writes once."""
    now = timezone.now()
    claimed = (Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED)
               .update(status=ExportStatus.RUNNING, started_at=now, progress=0, step="Starting"))
    if not claimed:
        claimed = (Export.objects.filter(pk=export_id, status=ExportStatus.RUNNING,
                                         started_at__lt=now - STALE_AFTER)
                   .update(started_at=now, progress=0, step="Restarting"))
    if not claimed:
        return None
    return Export.objects.get(pk=export_id)


def export_progress(*, export: Export, fraction: float, step: str) -> None:
    # Only the run that holds the claim (same started_at) may move the bar.
    Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING,
                          started_at=export.started_at).update(
        progress=max(0, min(99, int(fraction * 100))), step=step[:200])


@transaction.atomic(durable=True)
def export_finish(*, export: Export, file_name: str, sha256: str, size: int,
                  row_counts: dict) -> bool:
    updated = Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING,
                                    started_at=export.started_at).update(
        status=ExportStatus.DONE, progress=100, step="Ready", finished_at=timezone.now(),
        file_name=file_name, sha256=sha256, size_bytes=size, row_counts=row_counts)
    if updated:
        audit_event_record(
            action=AuditAction.EXPORT, actor=export.requested_by, obj=export,
            summary=f"Export written: {', '.join(export.formats)} "
                    f"({'blinded' if export.blinded else 'UNBLINDED'}), SHA-256 {sha256}",
            detail={"event": "written", "export": str(export.pk), "formats": export.formats,
                    "blinded": export.blinded, "sha256": sha256, "size_bytes": size,
                    "row_counts": row_counts},
        )
    return bool(updated)


@transaction.atomic(durable=True)
def export_fail(*, export: Export, error: str) -> None:
    updated = Export.objects.filter(pk=export.pk, status=ExportStatus.RUNNING,
                                    started_at=export.started_at).update(
        status=ExportStatus.FAILED, finished_at=timezone.now(), error=error[:2000],
        step="Failed")
    if updated:
        audit_event_record(action=AuditAction.EXPORT, actor=export.requested_by, obj=export,
                           summary="Export failed", detail={"event": "failed",
                                                            "export": str(export.pk),
                                                            "error": error[:500]})


def export_readme(export: Export) -> str:
    sites = ", ".join(Site.objects.filter(pk__in=export.site_ids).order_by("code")
                      .values_list("code", flat=True))
    return "\n".join([
        "ANGEL-RESCUE EDC export (NCT07026344)",
        f"Export id: {export.pk}",
        f"Requested by: {export.requested_by.username} at {export.requested_at.isoformat()}",
        f"Blinded: {'yes — no treatment arm and nothing derived from it' if export.blinded else 'NO — contains the treatment arm (unblinded statistician)'}",
        f"Sites: {sites}",
        f"Forms: {', '.join(export.forms) or 'all'}",
        f"Formats: {', '.join(export.formats)}",
        metadata.TIME_CONVENTION,
        "Text is UTF-8. The data dictionary is dictionary.csv (every variable: label, type, unit, "
        "range, code list, SAS names). CSV cells that would start a spreadsheet formula "
        "(= + - @, tab, CR; plain numbers excepted) begin with an apostrophe (OWASP).",
        _chain_head_line(),
    ])


def _chain_head_line() -> str:
    """The audit chain head when the export was built (audit/chain.py): an inspector can later
    check with `manage.py audit_verify --head <hash>` that the audit trail this export came
    from has not been rewritten."""
    from audit.chain import chain_head

    head = chain_head()
    return f"Audit chain head: link {head['link']} hash {head['hash'] or '(empty chain)'}"


PROGRESS_INTERVAL = 0.25  # seconds between progress writes of a running export


def export_run(*, export_id) -> Export | None:
    """Run one export end to end (called by the Celery task and by `manage.py export_data`).

    Steps: claim the row (exactly one run writes); build every format into a private
    temporary directory, reading rows in chunks; ZIP it into a temporary file; move it into
    place atomically; compute the SHA-256; mark done and audit. Not one transaction: the
    progress updates must be visible to the page while the export runs. A second delivery
    of the task finds the row claimed or done and returns at once.
    """
    from exports import runner

    export = export_claim(export_id=export_id)
    if export is None:
        return Export.objects.filter(pk=export_id).first()
    scope = Scope(blinded=export.blinded, site_ids=tuple(export.site_ids), forms=tuple(export.forms))
    out_dir: Path = settings.EDC_EXPORT_DIR
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out_dir.chmod(0o700)  # export files are clinical data: readable by the service user only
    work = Path(tempfile.mkdtemp(prefix=f"export-{export.pk}-", dir=out_dir))
    try:
        last_report = [float("-inf")]

        def report(fraction: float, step: str) -> None:
            # The page polls every second or so: a write (and commit) per table of a fast
            # export would cost more than the tables; one every PROGRESS_INTERVAL is enough.
            now = time.monotonic()
            if now - last_report[0] >= PROGRESS_INTERVAL:
                last_report[0] = now
                export_progress(export=export, fraction=fraction, step=step)

        with translation.override(export.label_language):  # labels only; codes stay as they are
            counts = runner.build(
                scope=scope, formats=list(export.formats), directory=work / "data",
                file_oid=f"ANGEL-RESCUE.{export.pk}", progress=report)
        export_progress(export=export, fraction=0.99, step="Compressing")
        partial = work / "bundle.zip"
        runner.bundle(work / "data", partial, export_readme(export))
        file_name = f"angel-rescue-{export.requested_at:%Y%m%d-%H%M%S}-{str(export.pk)[:8]}" \
                    f"{'' if export.blinded else '-UNBLINDED'}.zip"
        sha = runner.sha256_of(partial)
        size = partial.stat().st_size
        partial.chmod(0o600)
        partial.replace(out_dir / file_name)
        export_finish(export=export, file_name=file_name, sha256=sha, size=size,
                      row_counts=counts)
    except Exception as exc:
        export_fail(export=export, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    export.refresh_from_db()
    return export


@transaction.atomic(durable=True)
def export_download_record(*, export: Export, user) -> None:
    """A download of an export file is an access to the data: audited with its checksum."""
    audit_event_record(action=AuditAction.EXPORT, actor=user, obj=export,
                       summary=f"Export downloaded: {export.file_name}",
                       detail={"event": "downloaded", "export": str(export.pk),
                               "sha256": export.sha256, "blinded": export.blinded})
