from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

register = template.Library()

STATUS = {
    "not_yet_open": (_("not yet open"), "secondary"),
    "open": (_("open"), "info"),
    "due": (_("due"), "primary"),
    "overdue": (_("overdue"), "danger"),
    "complete": (_("complete"), "success"),
    "missed": (_("missed"), "dark"),
    "off_study": (_("off study"), "secondary"),
}


@register.simple_tag
def status_badge(status):
    label, colour = STATUS.get(status, (status, "secondary"))
    return format_html('<span class="badge status-badge text-bg-{}" data-status="{}">{}</span>',
                       colour, status, label)


@register.simple_tag
def window_text(window, site):
    """Hours windows as instants, day windows as local calendar dates (SPEC §6)."""
    if window is None:
        return "—"
    tz = site.tz
    if window.unit == "days" and window.code != "V1":
        return format_html("{} – {} · {} {}", f"{timezone.localtime(window.opens, tz):%Y-%m-%d}",
                           f"{window.last_day}", _("target"),
                           f"{timezone.localtime(window.target, tz):%Y-%m-%d}")
    fmt = "%Y-%m-%d %H:%M"
    return format_html("{} – {} · {} {}", f"{timezone.localtime(window.opens, tz):{fmt}}",
                       f"{timezone.localtime(window.closes, tz):{fmt}}", _("target"),
                       f"{timezone.localtime(window.target, tz):{fmt}}")
