"""`POST /api/`: the REDCap API as PyCap, REDCapR and REDCapTidieR speak it (form-encoded).

The token is the user: every answer comes from api.redcap.project (which asks the existing
selectors and access rules) and every write goes through the forms' services. Each request is
an audit event (api.services.request_record): user, token label, endpoint, records returned.
"""

from __future__ import annotations

import re

import pghistory
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from api import services
from api.exceptions import ApiError, NotPermitted, ParameterInvalid
from api.redcap import render
from api.redcap.copy import copy_chunks
from api.redcap.project import REDCAP_VERSION, STUDY_ARM, Project
from api.redcap.records import RecordExport, Selection, parse_datetime
from audit.middleware import client_ip
from core import access

FORMATS = ("json", "csv", "xml")
METADATA_COLUMNS = ["field_name", "form_name", "section_header", "field_type", "field_label",
                    "select_choices_or_calculations", "field_note",
                    "text_validation_type_or_show_slider_number", "text_validation_min",
                    "text_validation_max", "identifier", "branching_logic", "required_field",
                    "custom_alignment", "question_number", "matrix_group_name", "matrix_ranking",
                    "field_annotation"]
LIST_CONTENTS = {
    "metadata": METADATA_COLUMNS,
    "instrument": ["instrument_name", "instrument_label"],
    "event": ["event_name", "arm_num", "unique_event_name", "custom_event_label", "event_id",
              "days_offset", "offset_min", "offset_max"],
    "arm": ["arm_num", "name"],
    "formEventMapping": ["arm_num", "unique_event_name", "form"],
    "exportFieldNames": ["original_field_name", "choice_value", "export_field_name"],
    "repeatingFormsEvents": ["event_name", "form_name", "custom_form_label"],
}


def param_list(data, name: str) -> list[str] | None:
    """A list parameter in both styles clients send: indexed (`records[0]=a&records[1]=b`,
    PyCap; `records[]=a`) and comma-separated (`records=a,b`, REDCapR)."""
    indexed = []
    for key in data:
        m = re.fullmatch(rf"{re.escape(name)}\[(\d*)\]", key)
        if m:
            for v in data.getlist(key):
                indexed.append((int(m.group(1)) if m.group(1) else len(indexed), v))
    values = [v for _, v in sorted(indexed, key=lambda t: t[0])]
    for v in data.getlist(name):
        values.extend(v.split(","))
    values = [v.strip() for v in values if v and v.strip()]
    return values or None


def _choice(data, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (data.get(name) or default).strip()
    if value not in allowed:
        raise ParameterInvalid(f"The value of the parameter \"{name}\" is not valid: expected "
                               f"{' or '.join(allowed)}; found {value!r}.")
    return value


def _flag(data, name: str) -> bool:
    value = (data.get(name) or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ParameterInvalid(f"The value of the parameter \"{name}\" is not valid: expected true or "
                               f"false; found {value!r}.")
    return value in ("true", "1")


def _check_known(name: str, given: list[str] | None, known: set[str]) -> None:
    if given:
        unknown = [v for v in given if v not in known]
        if unknown:
            raise ParameterInvalid(f"The following values in the parameter \"{name}\" are not valid: "
                                   + ", ".join(f"'{v}'" for v in unknown))


@csrf_exempt
def redcap(request):
    data = request.POST
    fmt = (data.get("returnFormat") or data.get("format") or "xml").strip()
    if fmt not in FORMATS:
        fmt = "xml"
    content = (data.get("content") or "").strip()
    endpoint = f"POST /api/ content={content[:40] or '-'}"
    token = None
    try:
        if request.method != "POST":
            raise ParameterInvalid("The REDCap API takes POST requests (form-encoded).")
        token = services.authenticate(data.get("token"))
    except ApiError as exc:
        services.request_record(token=token, endpoint=endpoint, status=exc.status, ip=client_ip(request),
                                detail={"error": str(exc)})
        return _error(fmt, exc)
    user = token.user
    request.user = user
    metadata = {"user": user.pk, "username": user.username, "url": request.path, "ip": client_ip(request),
                "api_token": token.label,
                "roles": sorted({f"{m.role}@{m.site.code if m.site else '*'}"
                                 for m in access.user_memberships(user)})}
    with pghistory.context(**metadata):
        try:
            return _dispatch(request, data, content, token, endpoint)
        except ApiError as exc:
            services.request_record(token=token, endpoint=endpoint, status=exc.status, ip=client_ip(request),
                                    detail={"error": str(exc)})
            return _error(fmt, exc)


def _error(fmt: str, exc: ApiError) -> HttpResponse:
    body, content_type = render.error_body(fmt, str(exc), getattr(exc, "fields", None))
    return HttpResponse(body, status=exc.status, content_type=content_type)


def _respond(fmt: str, body: str) -> HttpResponse:
    return HttpResponse(body, content_type=render.CONTENT_TYPES[fmt])


def _dispatch(request, data, content: str, token, endpoint: str):
    ip = client_ip(request)
    user = token.user
    if content == "version":
        services.request_record(token=token, endpoint=endpoint, status=200, ip=ip)
        return HttpResponse(REDCAP_VERSION, content_type="text/plain; charset=utf-8")
    if content not in LIST_CONTENTS and content not in ("project", "record"):
        raise ParameterInvalid(f"The value of the parameter \"content\" is not valid: {content!r}. "
                               f"Supported: version, project, record, " + ", ".join(LIST_CONTENTS) + ".")
    fmt = _choice(data, "format", FORMATS, "xml")
    project = Project(user)
    if not project.site_ids:
        raise NotPermitted("You do not have permissions to use the API: your roles give no access to "
                           "subject data.")
    if content == "record":
        # PyCap and REDCapR send an import as content=record with `data` and no `action`.
        action = _choice(data, "action", ("export", "import"), "import" if "data" in data else "export")
        if action == "import":
            from api.redcap.imports import import_records

            result = import_records(project=project, data=data, fmt=fmt)
            services.request_record(token=token, endpoint=endpoint + " action=import", status=200, ip=ip,
                                    records=result.records, detail={"changed_fields": result.fields})
            return HttpResponse(result.body, content_type=render.CONTENT_TYPES["json"])
        return _records(request, data, fmt, project, token, endpoint)
    if content == "project":
        services.request_record(token=token, endpoint=endpoint, status=200, ip=ip)
        return _respond(fmt, render.single(fmt, project.project_info()))
    if content == "metadata":
        fields, forms = param_list(data, "fields"), param_list(data, "forms")
        _check_known("fields", fields, {f.name for f in project.fields})
        _check_known("forms", forms, set(project.instrument_by_name))
        items = project.metadata_rows(fields=fields, forms=forms)
    elif content == "instrument":
        items = project.instrument_rows()
    elif content == "event":
        _check_known("arms", param_list(data, "arms"), {"1"})
        items = project.event_rows()
    elif content == "arm":
        _check_known("arms", param_list(data, "arms"), {"1"})
        items = [STUDY_ARM]
    elif content == "formEventMapping":
        _check_known("arms", param_list(data, "arms"), {"1"})
        items = project.form_event_rows()
    elif content == "exportFieldNames":
        name = (data.get("field") or "").strip() or None
        if name:
            _check_known("field", [name], {f.name for f in project.fields})
        items = project.export_field_rows(name)
    else:
        items = project.repeating_rows()
    services.request_record(token=token, endpoint=endpoint, status=200, ip=ip)
    return _respond(fmt, render.dict_rows(fmt, LIST_CONTENTS[content], items))


def _records(request, data, fmt: str, project: Project, token, endpoint: str):
    record_type = _choice(data, "type", ("flat", "eav"), "flat")
    raw_or_label = _choice(data, "rawOrLabel", ("raw", "label"), "raw")
    headers = _choice(data, "rawOrLabelHeaders", ("raw", "label"), "raw")
    event_name = _choice(data, "eventName", ("label", "unique"), "label")
    checkbox_label = _flag(data, "exportCheckboxLabel")
    fields, forms, events = param_list(data, "fields"), param_list(data, "forms"), param_list(data, "events")
    complete = {i.complete_field for i in project.instruments}
    _check_known("fields", fields, {f.name for f in project.fields} | complete)
    _check_known("forms", forms, set(project.instrument_by_name))
    _check_known("events", events, set(project.event_by_name))
    begin = end = None
    if (data.get("dateRangeBegin") or "").strip():
        begin = parse_datetime(data["dateRangeBegin"], "dateRangeBegin", ParameterInvalid)
    if (data.get("dateRangeEnd") or "").strip():
        end = parse_datetime(data["dateRangeEnd"], "dateRangeEnd", ParameterInvalid)
    selection = Selection(records=param_list(data, "records"), fields=fields, forms=forms, events=events,
                          label=raw_or_label == "label", label_headers=headers == "label" and fmt == "csv",
                          event_label=raw_or_label == "label" and event_name == "label",
                          checkbox_label=checkbox_label,
                          date_begin=begin, date_end=end)
    export = RecordExport(project, selection)
    ip = client_ip(request)

    def body():
        status = 200
        try:
            if record_type == "eav":
                header = ["record", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                          "field_name", "value"]
                rows = _eav(export)
            elif fmt == "csv" and not selection.label and not selection.label_headers:
                # raw flat CSV, the bulk case: the same rows written by PostgreSQL (COPY)
                yield from copy_chunks(export)
                return
            else:
                header = export.header_labels() if selection.label_headers else export.header
                rows = export.rows()
            for chunk in render.chunks(fmt, header, rows):
                yield chunk.encode("utf-8")
        except BaseException:
            status = 500
            raise
        finally:
            services.request_record(token=token, endpoint=endpoint, status=status, ip=ip,
                                    records=export.records_returned,
                                    detail={"format": fmt, "type": record_type})

    response = StreamingHttpResponse(body(), content_type=render.CONTENT_TYPES[fmt])
    response["Cache-Control"] = "no-store"
    return response


def _eav(export: RecordExport):
    """REDCap's EAV: one row per value; a checkbox field gives a row per checked choice, with
    the field's own name and the choice code as the value."""
    names = export.header[4:]
    fields = export.header_fields[4:]
    boxes = [f is not None and f.checkbox for f in fields]
    for row in export.rows():
        key = row[:4]
        for name, f, box, value in zip(names, fields, boxes, row[4:], strict=True):
            if value is None or value == "":
                continue
            if box:
                if value in ("1", "Checked") or (export.sel.checkbox_label and value not in ("0", "Unchecked")):
                    code = name.rsplit("___", 1)[1]
                    choice = next((c, label) for c, label in f.choices if c.lower() == code)
                    yield [key[0], key[1], key[2], key[3], f.name, choice[1] if export.sel.label else choice[0]]
                continue
            yield [key[0], key[1], key[2], key[3], name, value]
