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


@register.filter
def signature_reason(signature, user) -> str:
    """{{ sig|signature_reason:request.user }}: the broken reason, withheld from a user blinded
    for the subject's site when it names an arm-revealing form (core.blinding)."""
    from core.blinding import signature_reason_for

    return signature_reason_for(user, signature.broken_reason, site=signature.subject.site_id)


@register.filter
def edc_time_s(value, zone=None):
    """edc_time with seconds (the audit trail, where order within a minute matters)."""
    if value is None or value == "":
        return "—"
    text = edc_time(value, zone)
    tz = text.rsplit(" ", 1)[1]
    local = timezone.localtime(value, zoneinfo.ZoneInfo(tz))
    return f"{local:%Y-%m-%d %H:%M:%S} {tz}"
