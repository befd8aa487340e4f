"""Labels for codes shown on pages: a code is never shown where a label exists (issue 15)."""

from django import template

register = template.Library()


@register.filter
def arm_label(code):
    """The (translated) name of a treatment-arm code; the caller decides whether the user may
    see the arm at all. Unknown or empty codes pass through."""
    from randomization.models import Arm

    if not code:
        return code
    return dict(Arm.choices).get(code, code)
