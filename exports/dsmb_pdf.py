"""The DSMB safety report as a PDF (reportlab): sICH by each definition and deaths, by arm.

Written in the active language (the reader's). Every style uses reportlab's built-in CID font
STSong-Light (Adobe-GB1, no font file needed): it draws Chinese and Latin text alike, which
Helvetica cannot.
"""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

CJK_FONT = "STSong-Light"


def _styles():
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        if hasattr(style, "fontName"):
            style.fontName = CJK_FONT
        if hasattr(style, "wordWrap"):
            style.wordWrap = "CJK"  # Chinese lines may break between any two characters
    return styles


def dsmb_pdf(data: dict) -> bytes:
    buffer = io.BytesIO()
    title = _("ANGEL-RESCUE DSMB safety report")
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            title=title, author=_("ANGEL-RESCUE EDC"))
    styles = _styles()
    story = [
        Paragraph(_("ANGEL-RESCUE (NCT07026344) — DSMB safety report"), styles["Title"]),
        Paragraph(_("CONFIDENTIAL — UNBLINDED. For the Data and Safety Monitoring Board only."),
                  styles["Heading4"]),
        Paragraph(_("Generated %(when)s UTC · sites %(sites)s") % {
            "when": f"{data['generated_at']:%Y-%m-%d %H:%M}", "sites": ", ".join(data["sites"])},
            styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    header = [_("Arm"), "N", _("Deaths")]
    if data["groups"]:
        header += [str(s["label"]) for s in data["groups"][0]["sich"]]
    rows = [header]
    for g in data["groups"]:
        rows.append([str(g["label"]), str(g["n"]), f"{g['deaths']} ({g['death_percent']}%)"]
                    + ([f"{s['n']} ({s['percent']}%)" for s in g["sich"]]
                       if data["sich_available"] else [_("not available") for _s in g["sich"]]))
    table = Table(rows, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), CJK_FONT),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#0d6efd")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story.append(table)
    story.append(Spacer(1, 6 * mm))
    if not data["sich_available"]:
        story.append(Paragraph(_("sICH: not available — the 48-hour imaging form is not part of "
                                 "this system yet."), styles["Italic"]))
    story.append(Paragraph(_("Deaths: subjects whose status is 'died' or with a death recorded on "
                             "any form. sICH: Heidelberg (primary), ECASS III and SITS-MOST, "
                             "derived from the stored raw components."), styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()
