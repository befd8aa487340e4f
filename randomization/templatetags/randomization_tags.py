from django import template

from randomization import selectors

register = template.Library()


@register.inclusion_tag("randomization/_supply_problems.html", takes_context=True)
def randomization_supply_problems(context, site_id=None, circulation=None):
    """"Why randomization is not possible" for the signed-in user, before a form is filled."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"problems": []}
    return {"problems": selectors.supply_problems(user=user, site_id=site_id, circulation=circulation or None)}


@register.filter
def list_parameters(parameters) -> list[dict]:
    """An allocation list's stored parameters as labelled values in the reader's language
    (never the stored dict): [{"label", "value", "code"}], in a fixed order; a key this page
    does not know is still shown, under its name."""
    from django.utils.translation import gettext as _

    from eligibility.models import Circulation
    from randomization.models import Arm

    params = dict(parameters or {})

    def listed(values, labels=None):
        return ", ".join(str(labels.get(v, v)) if labels else str(v) for v in values or [])

    arm_labels = {a.value: a.label for a in Arm}
    circulation_labels = {c.value: c.label for c in Circulation}
    known = [
        ("block_sizes", _("Block sizes"), lambda v: listed(v)),
        ("ratio", _("Allocation ratio"), lambda v: _("as in the imported file") if v == "as imported" else str(v)),
        ("entries_per_stratum", _("Entries per stratum"), str),
        ("imported_rows", _("Rows imported"), str),
        ("sites", _("Sites"), lambda v: listed(v)),
        ("circulations", _("Circulations (strata)"), lambda v: listed(v, circulation_labels)),
        ("arms", _("Arms"), lambda v: listed(v, arm_labels)),
        ("algorithm", _("Algorithm"), str),
    ]
    rows = []
    for key, label, show in known:
        if key in params:
            rows.append({"label": label, "value": show(params.pop(key)), "code": key == "algorithm"})
    for key, value in sorted(params.items()):
        text = listed(value) if isinstance(value, list) else str(value)
        rows.append({"label": key.replace("_", " ").capitalize(), "value": text, "code": False})
    return rows
