"""Reads of central adjudication; each takes the user and applies role, site and blinding.

- readers see only the cases of kinds they read, never a case of their own site (their
  memberships' sites and their declared affiliation), and of a case only the material of
  that kind (the mRS rater never the angiography: it reveals the arm);
- sites see the material they uploaded (arm-revealing material only staff who know the arm),
  never who read it;
- the statistician and the data manager see status and results; the statistician agreement
  statistics per reader.

Every list runs a fixed number of queries whatever the number of cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from adjudication import protocol
from adjudication.models import Case, CaseStatus, Material, Read, ReaderAffiliation, ReadStatus
from core import access
from core.roles import Action

_EXCLUDED_ATTR = "_edc_reader_excluded_sites"


def reader_excluded_sites(user) -> set[int]:
    """Sites whose cases this person never reads (cached for the request)."""
    cached = getattr(user, _EXCLUDED_ATTR, None)
    if cached is None:
        cached = {m.site_id for m in access.user_memberships(user) if m.site_id is not None}
        cached |= set(ReaderAffiliation.objects.filter(user_id=user.pk).values_list("site_id", flat=True))
        setattr(user, _EXCLUDED_ATTR, cached)
    return cached


def reader_kinds(user) -> list[str]:
    return [k for k in protocol.KINDS if access.can(user, protocol.KINDS[k].action)]


def is_reader(user) -> bool:
    return bool(reader_kinds(user))


def _readable_cases(user):
    kinds = reader_kinds(user)
    if not kinds:
        return Case.objects.none()
    return Case.objects.filter(kind__in=kinds).exclude(site_id__in=reader_excluded_sites(user))


@dataclass
class Worklist:
    mine: list  # this reader's reads in progress
    available: list  # cases with a read this reader may take
    done: int  # reads this reader finalized


def worklist(user, *, kind: str | None = None, limit: int = 200) -> Worklist:
    """Three queries (plus the memberships and affiliations once): the reader's drafts, the
    cases with a free read he may take (oldest first), and his count of final reads."""
    cases = _readable_cases(user)
    if kind:
        cases = cases.filter(kind=kind)
    mine = list(Read.objects.filter(reader=user, status=ReadStatus.DRAFT, case__in=cases)
                .select_related("case__subject").order_by("claimed_at"))
    read_before = Read.objects.filter(case=OuterRef("pk"), reader=user)
    free = (Q(status=CaseStatus.OPEN, reads_claimed__lt=protocol.READS_PER_CASE)
            | Q(status=CaseStatus.DISAGREEMENT, reads_claimed=protocol.READS_PER_CASE))
    available = list(cases.filter(free).exclude(Exists(read_before)).select_related("subject")
                     .order_by("created_at", "id")[:limit])
    done = Read.objects.filter(reader=user, status=ReadStatus.FINAL).count()
    return Worklist(mine=mine, available=available, done=done)


def case_for_reader(user, pk: int) -> Case:
    case = _readable_cases(user).select_related("subject", "site").filter(pk=pk).first()
    if case is None:
        raise Http404
    return case


def read_of(user, case: Case) -> Read | None:
    """The reader's own read of the case. The other readers' reads are never shown to him
    while he reads (independence); after a disagreement the third reader and the consensus
    see both earlier reads."""
    return Read.objects.filter(case=case, reader=user).order_by("-number").first()


def earlier_reads(user, case: Case) -> list[Read]:
    """For the third read / consensus only: the two independent reads (values, no names)."""
    if case.status != CaseStatus.DISAGREEMENT and case.status != CaseStatus.FINAL:
        return []
    own = read_of(user, case)
    if case.status == CaseStatus.DISAGREEMENT or (own is not None and own.number == 3):
        return list(Read.objects.filter(case=case, number__in=(1, 2), status=ReadStatus.FINAL))
    return []


def case_materials(user, case: Case) -> list[Material]:
    categories = protocol.materials_for_kind(case.kind)
    return list(Material.objects.filter(subject_id=case.subject_id, category__in=categories)
                .order_by("category", "id"))


def case_context(user, case: Case) -> dict:
    """What the committee reads beside the images: the 48-hour form's NIHSS course,
    interventions and narrative, and the core lab's final haemorrhage read. None of it is
    arm-revealing (the procedure form is never read here)."""
    if case.kind != protocol.CaseKind.SICH:
        return {}
    from followup.models import Visit48h

    v3 = Visit48h.objects.filter(subject_id=case.subject_id).first()
    core = Case.objects.filter(subject_id=case.subject_id, kind=protocol.CaseKind.FOLLOWUP,
                               status=CaseStatus.FINAL).values_list("final_values", flat=True).first()
    return {"v3": v3, "core_lab": core}


def material_for_view(user, pk: int) -> Material:
    """A file the user may open: site staff of its site (arm-revealing material only those
    who know the arm there), or a reader of a case of that material, not of his own site."""
    material = Material.objects.select_related("subject__site").filter(pk=pk).first()
    if material is None:
        raise Http404
    site_id = material.subject.site_id
    if access.can(user, Action.UPLOAD_MATERIAL, site_id):
        if material.reveals_arm and not access.sees_arm_at(user, site_id):
            raise Http404
        return material
    kinds = [k for k in reader_kinds(user) if material.category in protocol.materials_for_kind(k)]
    if kinds and site_id not in reader_excluded_sites(user) and Case.objects.filter(
            subject_id=material.subject_id, kind__in=kinds).exists():
        return material
    raise Http404


def subject_materials(user, subject) -> list[Material]:
    access.require(user, Action.UPLOAD_MATERIAL, subject.site)
    qs = Material.objects.filter(subject=subject)
    if not access.sees_arm_at(user, subject.site):
        qs = qs.exclude(reveals_arm=True)
    return list(qs.order_by("category", "id"))


def upload_categories(user, subject) -> list[tuple[str, str]]:
    sees = access.sees_arm_at(user, subject.site)
    return [(k, v) for k, v in protocol.MATERIAL_LABELS.items() if sees or k not in protocol.REVEALS_ARM]


# --- Status and results (statistician, data manager) ---------------------------------------------


def may_see_results(user) -> bool:
    return access.can(user, Action.ADJUDICATION_STATUS)


def status_overview(user) -> dict:
    access.require(user, Action.ADJUDICATION_STATUS)
    from django.db.models import Count

    counts = {(k, s): n for k, s, n in Case.objects.values_list("kind", "status").annotate(n=Count("id"))
              .values_list("kind", "status", "n")}
    rows = [{"kind": k, "label": protocol.KINDS[k].label,
             **{s: counts.get((k, s), 0) for s in CaseStatus.values}} for k in protocol.KINDS]
    cases = list(Case.objects.select_related("subject", "site").order_by("-created_at", "-id")[:200])
    return {"rows": rows, "cases": cases}


def subject_results(user, subject) -> list[dict] | None:
    """For the casebook: per kind, the adjudicated value beside the site's. None for users
    who may not see adjudication results (sites never do)."""
    if not may_see_results(user):
        return None
    from adjudication.results import site_values

    cases = {c.kind: c for c in Case.objects.filter(subject=subject)}
    sees = access.sees_arm_at(user, subject.site)
    site = site_values([subject.pk], include_procedure=sees).get(subject.pk, {})
    out = []
    for kind, spec in protocol.KINDS.items():
        if kind == protocol.CaseKind.ANGIO and not sees:
            continue  # read on the procedure's angiography: shown to unblinded viewers only
        case = cases.get(kind)
        for f in spec.fields:
            out.append({"kind": kind, "field": f, "site": site.get(f),
                        "adjudicated": case.final_values.get(f) if case and case.status == CaseStatus.FINAL else None,
                        "status": case.get_status_display() if case else None})
    return out
