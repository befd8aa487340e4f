from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    name = "followup"

    def ready(self):
        from core import crf
        from followup import checks
        from followup import forms as f
        from followup import models as m
        from followup import services as s

        nihss_totals = ("nihss_total",)
        # The procedure form says whether a stent was placed: it reveals the arm.
        crf.register(crf.CRF(code="V1_PROCEDURE", model=m.Procedure, label=_("V1 procedure"), visit="V1",
                             reveals_arm=True, order=10, page="V1", title=_("Procedure"),
                             form_class=f.ProcedureForm, checks=checks.PROCEDURE, context_forms=("SCREENING",),
                             save=s.procedure_save,
                             update=s.procedure_update))
        crf.register(crf.CRF(code="V1_PASS", model=m.ProcedurePass, label=_("V1 passes after randomization"),
                             visit="V1", subject_field="procedure__subject", repeating=True,
                             reveals_arm=True, order=11,
                             checks=checks.PASS, update=s.procedure_pass_update))
        crf.register(crf.CRF(code="V2_24H", model=m.Visit24h, label=_("V2 24 hours"), visit="V2", order=20,
                             page="V2", title=_("24 hours"), form_class=f.Visit24hForm, derived_fields=nihss_totals,
                             checks=checks.V2, save=s.visit24h_save, update=s.update_with(s.visit24h_save)))
        crf.register(crf.CRF(code="V3_48H", model=m.Visit48h, label=_("V3 48 hours"), visit="V3", order=30,
                             page="V3", title=_("48 hours"), form_class=f.Visit48hForm,
                             derived_fields=("before_total", "worse_total", "nihss_item_changes", "sich_heidelberg",
                                             "sich_ecass3", "sich_sits_most", "sich_reasoning"),
                             checks=checks.V3, save=s.visit48h_save, update=s.update_with(s.visit48h_save)))
        crf.register(crf.CRF(code="V4_DAY7", model=m.Visit7d, label=_("V4 day 7 / discharge"), visit="V4",
                             order=40, page="V4", title=_("Day 7 / discharge"), form_class=f.Visit7dForm,
                             derived_fields=nihss_totals, checks=checks.V4, context_forms=("SCREENING", "V2_24H"),
                             save=s.visit7d_save, update=s.update_with(s.visit7d_save)))
        crf.register(crf.CRF(code="V5_DAY90", model=m.Day90, label=_("V5 day 90"), visit="V5",
                             entered_by=("assessor",), order=50, page="V5", title=_("Day 90"),
                             form_class=f.Day90Form, checks=checks.V5, context_forms=("DEATH",),
                             save=s.day90_save, update=s.update_with(s.day90_save)))
        crf.register(crf.CRF(code="AE", model=m.AdverseEvent, label=_("Adverse event"), repeating=True,
                             order=60, page="AE", title=_("Adverse event"), form_class=f.AdverseEventForm,
                             checks=checks.AE, save=s.adverse_event_save, update=s.update_with(s.adverse_event_save, repeating=True)))
        crf.register(crf.CRF(code="DEATH", model=m.Death, label=_("Death"), order=61, page="DEATH", title=_("Death"),
                             form_class=f.DeathForm, checks=checks.DEATH, save=s.death_record, update=s.update_with(s.death_record)))
        crf.register(crf.CRF(code="DEVIATION", model=m.ProtocolDeviation, label=_("Protocol deviation"),
                             repeating=True, order=62, page="DEVIATION", title=_("Protocol deviation"),
                             form_class=f.DeviationForm, save=s.deviation_save, update=s.update_with(s.deviation_save, repeating=True),
                             create=s.deviation_create, extra={"records_deviations": True}))
        crf.register(crf.CRF(code="EXIT", model=m.StudyExit, label=_("Withdrawal / end of study"),
                             order=63, page="EXIT", title=_("Withdrawal / end of study"), form_class=f.StudyExitForm,
                             checks=checks.EXIT, save=s.study_exit_record, update=s.update_with(s.study_exit_record)))
