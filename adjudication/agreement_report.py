"""The statistician's agreement page: κ between the two independent reads (overall and per
reader), κ between the site's value and the adjudicated one (per site), and the discordance
lists. Statistics from adjudication.agreement (pure); a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict

from django.utils.translation import gettext_lazy as _

from adjudication import agreement, protocol
from adjudication.models import Case, CaseStatus, Read, ReadStatus
from adjudication.protocol import CaseKind
from core import access
from core.roles import Action

# (case kind, value key, scale) — the endpoints whose agreement the SAP reports.
MEASURES = [
    (CaseKind.MRS, "mrs", agreement.MRS, _("mRS (weighted κ, quadratic)")),
    (CaseKind.ASPECTS, "aspects", agreement.ASPECTS, _("ASPECTS (weighted κ, quadratic)")),
    (CaseKind.ASPECTS, "pc_aspects", agreement.PC_ASPECTS, _("pc-ASPECTS (weighted κ, quadratic)")),
    (CaseKind.SICH, "sich_heidelberg", agreement.SICH, _("sICH Heidelberg (κ)")),
    (CaseKind.SICH, "sich_ecass3", agreement.Scale("sich_ecass3", (False, True), None), _("sICH ECASS III (κ)")),
    (CaseKind.SICH, "sich_sits_most", agreement.Scale("sich_sits_most", (False, True), None), _("sICH SITS-MOST (κ)")),
]


def _stat(pairs, scale):
    pairs = [(a, b) for a, b in pairs if a in scale.categories and b in scale.categories]
    k = agreement.kappa(pairs, scale.categories, scale.weights)
    exact = sum(1 for a, b in pairs if a == b)
    return {"n": len(pairs), "kappa": None if k is None else round(k, 3),
            "exact_percent": round(100 * exact / len(pairs), 1) if pairs else None}


def report(user) -> dict:
    access.require(user, Action.AGREEMENT)
    from adjudication.results import site_values

    reads = list(Read.objects.filter(number__in=(1, 2), status=ReadStatus.FINAL)
                 .select_related("case__subject", "case__site", "reader").order_by("case_id", "number"))
    by_case: dict[int, dict[int, Read]] = defaultdict(dict)
    for r in reads:
        by_case[r.case_id][r.number] = r
    finals = list(Case.objects.filter(status=CaseStatus.FINAL).select_related("site", "subject"))
    site = site_values([c.subject_id for c in finals])
    measures = []
    for kind, key, scale, label in MEASURES:
        pairs, per_reader = [], defaultdict(list)
        discordant = []
        for _case_id, pair in by_case.items():
            if 1 not in pair or 2 not in pair or pair[1].case.kind != kind:
                continue
            a, b = pair[1].values.get(key), pair[2].values.get(key)
            if a is None and b is None:
                continue
            pairs.append((a, b))
            per_reader[pair[1].reader.username].append((a, b))
            per_reader[pair[2].reader.username].append((b, a))
            if a != b:
                c = pair[1].case
                discordant.append({"case": c.reference, "subject": c.subject.number, "site": c.site.code,
                                   "read1": a, "read2": b, "status": c.get_status_display()})
        per_site, site_discordant = defaultdict(list), []
        for c in finals:
            if c.kind != kind:
                continue
            adj, mine = c.final_values.get(key), site.get(c.subject_id, {}).get(key)
            if adj is None or mine is None:
                continue
            per_site[c.site.code].append((mine, adj))
            if adj != mine:
                site_discordant.append({"case": c.reference, "subject": c.subject.number, "site": c.site.code,
                                        "site_value": mine, "adjudicated": adj})
        measures.append({
            "key": f"{kind}-{key}", "label": label, "overall": _stat(pairs, scale),
            "readers": [{"reader": name, **_stat(p, scale)} for name, p in sorted(per_reader.items())],
            "sites": [{"site": code, **_stat(p, scale)} for code, p in sorted(per_site.items())],
            "discordant": discordant, "site_discordant": site_discordant,
        })
    return {"measures": measures, "kinds": dict(protocol.KIND_CHOICES)}
