from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EligibilityConfig(AppConfig):
    name = "eligibility"

    def ready(self):
        from core import crf
        from eligibility.models import Screening

        crf.register(crf.CRF(code="SCREENING", model=Screening, label=_("Screening / baseline"),
                             visit="V0", subject_field=None, order=0))
