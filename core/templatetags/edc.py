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


@register.filter
def edc_time(value, zone=None):
    """One format for every instant shown: "YYYY-MM-DD HH:MM <zone>", in the zone given
    (a site, a zone name, "UTC") or else the zone active for this request (the user's site)."""
    if value is None or value == "":
        return "—"
    if zone is None:
        tz = timezone.get_current_timezone()
    elif hasattr(zone, "time_zone"):
        tz = zoneinfo.ZoneInfo(zone.time_zone)
    else:
        tz = zoneinfo.ZoneInfo(str(zone))
    local = timezone.localtime(value, tz)
    return f"{local:%Y-%m-%d %H:%M} {getattr(tz, 'key', str(tz))}"
