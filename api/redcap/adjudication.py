"""The central adjudication as a REDCap instrument of its own (`adjudication`, in the events
event, one row per subject with a case): per endpoint the case status and the adjudicated
values once final, and the analysis values with the rule "adjudicated when final, else site"
and its source flag — the same expressions as the exports' analysis table
(adjudication.results).

Who gets it: users who may see adjudication status and results (core.roles
ADJUDICATION_STATUS: the statistician and the data manager), for the sites of their project.
The angiography read (eTICI after the last pass and final eTICI) is a read of the procedure,
which reveals the arm: it is part of the instrument only for a user who may see the arm at
every site of the project (core.blinding); the mRS and sICH reads do not reveal the arm.
"""

from __future__ import annotations

from django.db.models import BooleanField, CharField, Exists, F, IntegerField, OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from api.redcap.project import EVENTS_CODE, Field, Instrument, raw_expression
from core import access, blinding
from core.roles import Action
from exports.columns import Column

INSTRUMENT = "adjudication"
_OUTPUT = {"integer": IntegerField, "boolean": BooleanField, "text": CharField}


def _kind_fields():
    """(kind, value key, REDCap kind, choices, label) of every adjudicated value."""
    from adjudication import protocol
    from adjudication.protocol import CaseKind

    etici = tuple((c, c) for c in protocol.ETICI_CODES)
    heidelberg = tuple((c, c) for c in protocol.HEIDELBERG_CODES)
    return [
        (CaseKind.ANGIO, "etici_last_pre", "text", etici, "eTICI after the last pass before randomization, core lab"),
        (CaseKind.ANGIO, "etici_final", "text", etici, "Final eTICI, core lab"),
        (CaseKind.ASPECTS, "aspects", "integer", (), "ASPECTS, core lab"),
        (CaseKind.ASPECTS, "pc_aspects", "integer", (), "pc-ASPECTS, core lab"),
        (CaseKind.FOLLOWUP, "ich", "boolean", (), "Haemorrhage on 24–48 h imaging, core lab"),
        (CaseKind.FOLLOWUP, "heidelberg", "text", heidelberg, "Heidelberg class, core lab"),
        *[(CaseKind.SICH, key, "boolean", (), f"{label}, committee adjudicated")
          for key, label in (("sich_heidelberg", "sICH (Heidelberg)"), ("sich_ecass3", "sICH (ECASS III)"),
                             ("sich_sits_most", "sICH (SITS-MOST)"))],
        (CaseKind.MRS, "mrs", "integer", (), "mRS at day 90, central rating"),
    ]


def _status_choices():
    from adjudication.models import CaseStatus

    return tuple((str(v), str(label)) for v, label in CaseStatus.choices)


def instrument(user, site_ids: tuple[int, ...]) -> Instrument | None:
    """The instrument as `user` may have it, or None."""
    from adjudication import protocol
    from adjudication.protocol import CaseKind
    from adjudication.results import COLUMN_LABELS, analysis_expressions

    if not site_ids or not access.can(user, Action.ADJUDICATION_STATUS):
        return None
    with_angio = all(blinding.may_see_arm(user, s) for s in site_ids)
    inst = Instrument(name=INSTRUMENT, label="Central adjudication", event=EVENTS_CODE, kind="adjudication",
                      site_ids=site_ids)
    seen_kinds = []
    for kind, key, rkind, choices, label in _kind_fields():
        if kind == CaseKind.ANGIO and not with_angio:
            continue
        if kind not in seen_kinds:
            seen_kinds.append(kind)
            name = f"adj_{kind}_status"
            inst.fields.append(Field(name, INSTRUMENT, f"Case status: {protocol.KINDS[kind].label}", "text",
                                     source=Column(name, "", "text", name), choices=_status_choices()))
        name = f"adj_{key}"
        inst.fields.append(Field(name, INSTRUMENT, label, rkind, source=Column(name, label, rkind, name),
                                 choices=choices, note="Empty until the case is final.",
                                 minimum=0 if rkind == "integer" else None,
                                 maximum={"mrs": 6}.get(key, 10) if rkind == "integer" else None))
    for name in analysis_expressions():
        if name.endswith("_adj"):
            continue  # the adjudicated value itself is adj_<field> above
        rkind, label = COLUMN_LABELS[name]
        choices = (("adjudicated", "Adjudicated (final central read)"), ("site", "Site")) \
            if name.endswith("_src") else ()
        inst.fields.append(Field(name, INSTRUMENT, label, rkind, source=Column(name, label, rkind, name),
                                 choices=choices))
    return inst


def queryset(inst: Instrument):
    """core.Subject rows of the instrument's sites that have a case: sid, _pk, c0, c1 … in the
    order of inst.fields (REDCap raw values)."""
    from adjudication.models import Case, CaseStatus
    from adjudication.results import analysis_expressions
    from core.models import Subject

    cases = Case.objects.filter(subject_id=OuterRef("pk"))
    annotations = {}
    analysis = analysis_expressions()
    kinds = {key: (kind, rkind) for kind, key, rkind, _c, _l in _kind_fields()}
    for f in inst.fields:
        name = f.name
        if name.endswith("_status") and name.startswith("adj_"):
            kind = name[len("adj_"):-len("_status")]
            annotations[name] = Subquery(cases.filter(kind=kind).values("status")[:1], output_field=CharField())
        elif name.startswith("adj_"):
            kind, rkind = kinds[name[len("adj_"):]]
            value = KeyTextTransform(name[len("adj_"):], "final_values")
            output = _OUTPUT[rkind]()
            annotations[name] = Subquery(cases.filter(kind=kind, status=CaseStatus.FINAL)
                                         .annotate(v=Cast(value, output)).values("v")[:1], output_field=output)
        else:
            annotations[name] = analysis[name]
    qs = Subject.objects.filter(site_id__in=inst.site_ids).filter(Exists(cases)).order_by()
    qs = qs.annotate(**annotations)
    return qs.values(sid=F("pk"), _pk=F("pk"),
                     **{f"c{n}": raw_expression(f.source) for n, f in enumerate(inst.fields)})
