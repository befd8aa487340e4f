"""Clinical code lists used by more than one form (SCALES.md), defined once.

The screening CRF (thrombectomy passes before randomization) and the procedure CRF (passes
after it) record the same technique and the same reperfusion grade.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Technique(models.TextChoices):
    CONTACT_ASPIRATION = "contact_aspiration", _("Contact aspiration")
    STENT_RETRIEVER = "stent_retriever", _("Stent retriever")
    COMBINED = "combined", _("Combined")


class ETICI(models.TextChoices):
    """Expanded TICI grade (SCALES.md); the codes are the export values."""

    G0 = "0", _("0 — no reperfusion")
    G1 = "1", _("1 — thrombus reduced, no distal reperfusion")
    G2A = "2a", _("2a — 1–49 %")
    G2B50 = "2b50", _("2b50 — 50–66 %")
    G2B67 = "2b67", _("2b67 — 67–89 %")
    G2C = "2c", _("2c — 90–99 %")
    G3 = "3", _("3 — complete")
