from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    name = "followup"

    def ready(self):
        from core import crf
        from followup import models as m

        # The procedure form says whether a stent was placed: it reveals the arm.
        crf.register(crf.CRF(code="V1_PROCEDURE", model=m.Procedure, label=_("V1 procedure"), visit="V1",
                             reveals_arm=True, order=10))
        crf.register(crf.CRF(code="V1_PASS", model=m.ProcedurePass, label=_("V1 passes after randomization"),
                             visit="V1", subject_field="procedure__subject", repeating=True,
                             reveals_arm=True, order=11))
        crf.register(crf.CRF(code="V2_24H", model=m.Visit24h, label=_("V2 24 hours"), visit="V2", order=20))
        crf.register(crf.CRF(code="V3_48H", model=m.Visit48h, label=_("V3 48 hours"), visit="V3", order=30))
        crf.register(crf.CRF(code="V4_DAY7", model=m.Visit7d, label=_("V4 day 7 / discharge"), visit="V4",
                             order=40))
        crf.register(crf.CRF(code="V5_DAY90", model=m.Day90, label=_("V5 day 90"), visit="V5",
                             entered_by=("assessor",), order=50))
        crf.register(crf.CRF(code="AE", model=m.AdverseEvent, label=_("Adverse event"), repeating=True,
                             order=60))
        crf.register(crf.CRF(code="DEATH", model=m.Death, label=_("Death"), order=61))
        crf.register(crf.CRF(code="DEVIATION", model=m.ProtocolDeviation, label=_("Protocol deviation"),
                             repeating=True, order=62))
        crf.register(crf.CRF(code="EXIT", model=m.StudyExit, label=_("Withdrawal / end of study"),
                             order=63))
