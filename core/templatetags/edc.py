import zoneinfo

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def site_time(value, site):
    """An instant shown in a site's zone with the zone named (SPEC §3)."""
    if value is None:
        return "—"
    tz = zoneinfo.ZoneInfo(site.time_zone if hasattr(site, "time_zone") else str(site))
    local = timezone.localtime(value, tz)
    return f"{local:%Y-%m-%d %H:%M} {tz.key}"


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None
