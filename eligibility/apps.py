from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "eligibility"

    def ready(self):
        from core import crf
        from eligibility.models import Screening

        crf.register(crf.CRF(code="SCREENING", model=Screening, label="Screening / baseline",
                             visit="V0", subject_field=None, order=0))
