from django import forms as djforms
from django.utils.translation import gettext_lazy as _

from exports import selectors
from exports.models import ExportFormat


class ExportForm(djforms.Form):
    formats = djforms.MultipleChoiceField(
        label=_("Formats"), choices=ExportFormat.choices, widget=djforms.CheckboxSelectMultiple,
        initial=["csv"], help_text=_("Every export is one ZIP file with the data dictionary."))
    forms = djforms.MultipleChoiceField(
        label=_("Forms"), required=False, widget=djforms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to export every form."))
    sites = djforms.MultipleChoiceField(
        label=_("Sites"), required=False, widget=djforms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to export every site you may export."))
    label_language = djforms.ChoiceField(
        label=_("Labels"), choices=[("en", _("English")), ("zh-hans", _("Simplified Chinese"))], initial="en",
        required=False,
        widget=djforms.RadioSelect,
        help_text=_("Language of variable and value labels in SAS, Stata, SPSS and ODM files; codes and "
                    "variable names stay the same. The data dictionary has both."))
    blinded = djforms.TypedChoiceField(
        label=_("Blinding"), coerce=lambda v: v == "1", initial="1",
        choices=[("1", _("Blinded — no treatment arm"))], widget=djforms.RadioSelect)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        event = _("event")
        self.fields["forms"].choices = [(c.code, f"{c.label} ({c.visit or event})")
                                        for c in selectors.export_forms(user)]
        self.fields["sites"].choices = [(s.pk, f"{s.code} {s.name}")
                                        for s in selectors.export_sites(user)]
        if selectors.may_export_unblinded(user):
            self.fields["blinded"].choices = [
                ("1", _("Blinded — no treatment arm")),
                ("0", _("Unblinded — with the treatment arm (statistician only)")),
            ]
