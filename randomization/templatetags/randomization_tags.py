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
