"""The DSMB safety report as a PDF (reportlab): sICH by each definition and deaths, by arm."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle


def dsmb_pdf(data: dict) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            title="ANGEL-RESCUE DSMB safety report", author="ANGEL-RESCUE EDC")
    styles = getSampleStyleSheet()
    story = [
        Paragraph("ANGEL-RESCUE (NCT07026344) — DSMB safety report", styles["Title"]),
        Paragraph("CONFIDENTIAL — UNBLINDED. For the Data and Safety Monitoring Board only.",
                  styles["Heading4"]),
        Paragraph(f"Generated {data['generated_at']:%Y-%m-%d %H:%M} UTC · sites "
                  f"{', '.join(data['sites'])}", styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    header = ["Arm", "N", "Deaths"] + [s["label"] for s in data["groups"][0]["sich"]] \
        if data["groups"] else ["Arm", "N", "Deaths"]
    rows = [header]
    for g in data["groups"]:
        rows.append([g["label"], str(g["n"]), f"{g['deaths']} ({g['death_percent']}%)"]
                    + ([f"{s['n']} ({s['percent']}%)" for s in g["sich"]]
                       if data["sich_available"] else ["n/a" for _ in g["sich"]]))
    table = Table(rows, repeatRows=1)
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#0d6efd")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story.append(table)
    story.append(Spacer(1, 6 * mm))
    if not data["sich_available"]:
        story.append(Paragraph("sICH: not available — the 48-hour imaging form is not part of "
                               "this system yet.", styles["Italic"]))
    story.append(Paragraph("Deaths: subjects whose status is 'died' or with a death recorded on "
                           "any form. sICH: Heidelberg (primary), ECASS III and SITS-MOST, "
                           "derived from the stored raw components.", styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()
