from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EligibilityConfig(AppConfig):
    name = "eligibility"

    def ready(self):
        from core import crf
        from eligibility import checks, services
        from eligibility.models import Screening

        crf.register(crf.CRF(
            code="SCREENING", model=Screening, label=_("Screening / baseline"), visit="V0", subject_field=None,
            order=0,
            # The derived verdict and the screening's workflow, stored beside the raw values.
            derived_fields=("verdict_status", "verdict_failed", "verdict_missing", "verdict_warnings",
                            "nihss_entry",
                            "confirmed_by", "confirmed_at", "outcome", "closed_reason_codes",
                            "closed_reason_text", "closed_at", "lab_pending_attested_by"),
            checks=checks.SCREENING, update=services.screening_correct,
        ))
