"""The DSMB report (closed or open) as a PDF, from the snapshot's report dict.

Chinese-capable: every text is set in reportlab's built-in CID font STSong-Light (Adobe-GB1,
no font file needed), so a report rendered in Simplified Chinese prints. mRS distributions
are drawn as Grotta bars (stacked horizontal bars, 0 → 6).
"""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
MRS_COLOURS = ["#1a9850", "#66bd63", "#a6d96a", "#fee08b", "#fdae61", "#f46d43", "#555555"]


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def grotta(label: str, dist: dict, width=170 * mm, height=9 * mm) -> Drawing:
    d = Drawing(width, height + 4 * mm)
    label_w = 55 * mm
    d.add(String(0, 3 * mm, f"{label} (n={dist['n']})", fontName=FONT, fontSize=7))
    x = label_w
    bar_w = width - label_w
    for level in dist["levels"]:
        w = bar_w * level["percent"] / 100
        if w > 0:
            d.add(Rect(x, 1 * mm, w, height - 2 * mm, fillColor=colors.HexColor(MRS_COLOURS[level["mrs"]]),
                       strokeColor=colors.white, strokeWidth=0.5))
            if w > 6 * mm:
                d.add(String(x + 1 * mm, 3 * mm, f"{level['mrs']}: {level['percent']:.0f}%", fontName=FONT,
                             fontSize=6, fillColor=colors.white if level["mrs"] in (0, 5, 6) else colors.black))
        x += w
    return d


def _pdf(text: str) -> str:
    return str(text).replace("·", "/")


def _num(value, spread) -> str:
    if value is None:
        return "—"
    return f"{value} ({'—' if spread is None else spread})"


def report_pdf(r: dict) -> bytes:
    font = _font()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            title=str(r["title"]), author="ANGEL-RESCUE EDC", invariant=1)
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=18, spaceAfter=6)
    h = ParagraphStyle("h", fontName=font, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=8, leading=10)
    story = [Paragraph(f"ANGEL-RESCUE (NCT07026344) — {r['title']}", title)]
    story.append(Paragraph(
        (_("CONFIDENTIAL — UNBLINDED. For the closed session of the DSMB only.") if r["closed"]
         else _("Pooled over both arms: no result by arm.")), body))
    # STSong-Light has no glyph for the middle dot: it is replaced in every text of the PDF.
    story.append(Paragraph(_pdf(_("Data cut-off %(cut)s UTC · snapshot %(id)s · SHA-256 %(sha)s")
                                % {"cut": f"{r['cut_off']:%Y-%m-%d %H:%M}", "id": r["snapshot"], "sha": r["sha256"]}), body))
    groups = r["groups"]

    def table(rows, header=True):
        t = Table(rows, repeatRows=1 if header else 0)
        t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7"))]))
        return t

    def miqr(v):
        return "—" if not v else f"{v['median']} ({v['q1']}–{v['q3']})"

    head = [""] + [f"{g['label']} (n={g['n']})" for g in groups]
    story += [Paragraph(_("Enrollment"), h),
              table([[_("Site"), _("Randomized")]] + [[e["site"], e["n"]] for e in r["enrollment"]]
                    + [[_("Total"), r["total"]]])]
    story += [Paragraph(_("Baseline"), h), table([head,
        [_("Age, mean (SD)")] + [_num(g["baseline"]["age_mean"], g["baseline"]["age_sd"]) for g in groups],
        [_("Female, n (%)")] + [f"{g['baseline']['female']} ({g['baseline']['female_percent']}%)" for g in groups],
        [_("NIHSS, median (IQR)")] + [miqr(g["baseline"]["nihss"]) for g in groups],
        [_("Pre-stroke mRS, median (IQR)")] + [miqr(g["baseline"]["prestroke_mrs"]) for g in groups],
        [_("Anterior circulation, n (%)")] + [f"{g['baseline']['anterior']} ({g['baseline']['anterior_percent']}%)" for g in groups],
        [_("ASPECTS, median (IQR)")] + [miqr(g["baseline"]["aspects"]) for g in groups],
        [_("pc-ASPECTS, median (IQR)")] + [miqr(g["baseline"]["pc_aspects"]) for g in groups],
    ])]
    story.append(Paragraph(_("mRS at day 90 (Grotta bars): site and adjudicated"), h))
    for g in groups:
        story.append(grotta(f"{g['label']}, {_('site')}", g["mrs_site"]))
        story.append(grotta(f"{g['label']}, {_('adjudicated')}", g["mrs_adjudicated"]))
    story += [Paragraph(_("Outcomes"), h), table([head,
        [_("mRS 0–2, site")] + [f"{g['mrs_site_0_2']['n']}/{g['mrs_site_0_2']['of']} ({g['mrs_site_0_2']['percent']}%)" for g in groups],
        [_("mRS 0–2, analysis (adjudicated when final)")] + [f"{g['mrs_analysis_0_2']['n']}/{g['mrs_analysis_0_2']['of']} ({g['mrs_analysis_0_2']['percent']}%)" for g in groups],
        *[[f"{s['label']}, {_('site')}"] + [f"{g['sich'][i]['site']} ({g['sich'][i]['site_percent']}%)" for g in groups]
          for i, s in enumerate(groups[0]["sich"])],
        *[[f"{s['label']}, {_('adjudicated')}"] + [f"{g['sich'][i]['adjudicated']}/{g['sich'][i]['adjudicated_of']}" for g in groups]
          for i, s in enumerate(groups[0]["sich"])],
        [_("Deaths, n (%)")] + [f"{g['deaths']} ({g['death_percent']}%)" for g in groups],
    ])]
    story += [Paragraph(_("Serious adverse events"), h)]
    sae_rows = [[_("Subject"), _("Site")] + ([_("Arm")] if r["closed"] else []) + [_("Event"), _("Onset"), _("Outcome")]]
    for e in r["saes"]:
        sae_rows.append([e["subject"], e["site"]] + ([e["group"]] if r["closed"] else [])
                        + [Paragraph(e["term"], body), e["onset_on"], e["outcome"]])
    story.append(table(sae_rows) if r["saes"] else Paragraph(_("No serious adverse events."), body))
    story.append(Spacer(1, 4 * mm))
    doc.build(story)
    return buffer.getvalue()
