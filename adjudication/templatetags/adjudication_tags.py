from django import template
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def get_value(mapping, key):
    if not isinstance(mapping, dict):
        return ""
    return value_label(mapping.get(key))


@register.filter
def value_label(value):
    """A read's or the site's value in words: yes/no, "none (no haemorrhage)", — for nothing."""
    from adjudication.protocol import VALUE_LABELS

    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None:
        return "—"
    return VALUE_LABELS.get(value, value) if isinstance(value, str) else value


@register.filter
def field_label(key):
    from adjudication.protocol import FIELD_LABELS

    return FIELD_LABELS.get(key, key)


def _error(errors, name):
    message = errors.get(name) if errors else None
    return format_html('<div class="invalid-feedback d-block">{}</div>', message) if message else ""


def _current(data, name):
    value = data.get(name) if data else None
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


@register.simple_tag
def read_select(name, label, codes, data, errors):
    current = _current(data, name)
    options = format_html_join("", '<option value="{}"{}>{}</option>',
                               ((c, " selected" if c == current else "", c) for c in codes))
    invalid = " is-invalid" if errors and errors.get(name) else ""
    return format_html('<div class="mb-2"><label class="form-label" for="id_{0}">{1}</label>'
                       '<select name="{0}" id="id_{0}" class="form-select w-auto{2}"><option value="">—</option>{3}</select>{4}</div>',
                       name, label, invalid, options, _error(errors, name))


@register.simple_tag
def read_number(name, label, data, errors):
    invalid = " is-invalid" if errors and errors.get(name) else ""
    return format_html('<div class="mb-2"><label class="form-label" for="id_{0}">{1}</label>'
                       '<input type="number" min="0" max="10" name="{0}" id="id_{0}" value="{2}" class="form-control w-auto{3}">{4}</div>',
                       name, label, _current(data, name), invalid, _error(errors, name))


@register.simple_tag
def read_yes_no(name, label, data, errors):
    current = _current(data, name)
    radios = format_html_join("", '<label class="me-3"><input type="radio" class="form-check-input me-1" name="{}" value="{}"{}> {}</label>',
                              ((name, v, " checked" if current == v else "", text)
                               for v, text in (("true", _("yes")), ("false", _("no")))))
    return format_html('<div class="mb-2" data-field="{0}"><div class="form-label">{1}</div>{2}{3}</div>',
                       name, label, radios, _error(errors, name))


@register.inclusion_tag("adjudication/_casebook_panel.html", takes_context=True)
def adjudication_panel(context, subject):
    """The adjudicated values beside the site's, for those allowed (not site staff)."""
    from adjudication.selectors import subject_results

    request = context.get("request")
    user = getattr(request, "user", None)
    return {"results": subject_results(user, subject) if user is not None else None}
