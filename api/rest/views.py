"""REST API /api/v1/ (Django REST framework, OpenAPI 3 by drf-spectacular).

Every view asks the existing selectors (site scope, blinding) and writes through the existing
services; nothing is decided here a second time. No serializer has an arm field: the arm
reaches a client only through the REDCap randomization instrument of an unblinded user.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import services as api_services
from api.exceptions import NotPermitted, ParameterInvalid
from api.rest import serializers as s
from api.rest.auth import audit_context
from core import access
from core.exceptions import DomainError
from core.models import Site


class Audited:
    """Every REST request is an audit event: user, token label, endpoint, records returned."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        token = getattr(request, "auth", None)
        if token is not None and hasattr(token, "label"):
            records = None
            data = getattr(response, "data", None)
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                records = len(data["results"])
            elif isinstance(data, list):
                records = len(data)
            elif isinstance(data, dict) and response.status_code < 400:
                records = 1
            route = getattr(request.resolver_match, "route", request.path)
            api_services.request_record(token=token, endpoint=f"{request.method} /api/{route}",
                                        status=response.status_code, records=records)
        return response


class ReadList(Audited, generics.ListAPIView):
    pass


# --- sites and subjects ---------------------------------------------------------------------


class SiteList(ReadList):
    """Sites the token's user has a membership at."""

    serializer_class = s.SiteSerializer

    def get_queryset(self):
        return access.visible_sites(self.request.user)


class SubjectList(ReadList):
    """Subjects the user may read (followup.selectors.subjects_for). No arm, by design."""

    serializer_class = s.SubjectSerializer

    def get_queryset(self):
        from followup.selectors import subjects_for

        return subjects_for(self.request.user)


class SubjectDetail(Audited, generics.RetrieveAPIView):
    serializer_class = s.SubjectSerializer
    lookup_field = "number"

    def get_object(self):
        from followup.selectors import subject_for

        return subject_for(self.request.user, self.kwargs["number"])


# --- forms per subject ----------------------------------------------------------------------


def _project(user):
    from api.redcap.project import Project

    return Project(user)


def _instrument(project, code: str):
    inst = project.instrument_by_name.get(code.lower())
    if inst is None or inst.kind != "crf":
        raise Http404
    return inst


def _form_rows(user, subject, inst) -> list[dict]:
    from api.redcap.imports import _current

    if subject.site_id not in inst.site_ids:
        return []
    return [{"form": inst.name, "instance": n, "id": obj.pk, "version": getattr(obj, "version", 1),
             "values": {k: v for k, v in values.items()}}
            for n, (obj, values) in enumerate(_current(None, inst, subject), start=1)]


class SubjectForms(Audited, APIView):
    """Every form of the subject the user may read, with its values (REDCap raw values) and
    version."""

    @extend_schema(responses=s.FormSerializer(many=True))
    def get(self, request, number: str):
        from followup.selectors import subject_for

        subject = subject_for(request.user, number)
        project = _project(request.user)
        rows = []
        for inst in project.instruments:
            if inst.kind == "crf":
                rows.extend(_form_rows(request.user, subject, inst))
        return Response(s.FormSerializer(rows, many=True).data)


class SubjectForm(Audited, APIView):
    """One form of one subject. PATCH changes saved values through the form's write path: the
    `If-Match` header (or `version` in the body) must state the version read, and a `reason`
    is required."""

    @extend_schema(responses=s.FormSerializer(many=True), operation_id="subjects_form_retrieve",
                   parameters=[OpenApiParameter("form", OpenApiTypes.STR, OpenApiParameter.PATH)])
    def get(self, request, number: str, form: str):
        from followup.selectors import subject_for

        subject = subject_for(request.user, number)
        inst = _instrument(_project(request.user), form)
        rows = _form_rows(request.user, subject, inst)
        if not rows:
            raise Http404
        response = Response(s.FormSerializer(rows, many=True).data)
        if not inst.repeating:
            response["ETag"] = f'"{rows[0]["version"]}"'
        return response

    @extend_schema(request=s.FormChangeSerializer, responses={200: s.FormSerializer(many=True)},
                   parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="The version read (its ETag)."),
                               OpenApiParameter("form", OpenApiTypes.STR, OpenApiParameter.PATH)])
    def patch(self, request, number: str, form: str):
        from followup.selectors import subject_for

        body = s.FormChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subject = subject_for(request.user, number)
        project = _project(request.user)
        inst = _instrument(project, form)
        rows = _form_rows(request.user, subject, inst)
        instance_no = body.validated_data.get("instance") or 1
        if not rows or instance_no > len(rows):
            raise Http404
        current = rows[instance_no - 1]
        stated = request.headers.get("If-Match", "").strip().strip('"').removeprefix('W/"').strip('"')
        stated = stated or (str(body.validated_data["version"]) if body.validated_data.get("version") else "")
        if not stated:
            return _problem(428, "If-Match: state the version you read (the ETag of GET), or give \"version\".")
        if stated != str(current["version"]):
            return _problem(412, f"Version: you read version {stated}, the saved version is {current['version']}; "
                                 "nothing was saved. Read the form again.")
        row = {"subject_number": number, "redcap_event_name": f"{inst.event.lower()}_arm_1",
               **({"redcap_repeat_instrument": inst.name, "redcap_repeat_instance": str(instance_no)}
                  if inst.repeating else {})}
        names = {f.source.name: f.name for f in inst.fields if f.source is not None}
        unknown = [k for k in body.validated_data["values"] if k not in names]
        if unknown:
            return _problem(400, "values: not fields of this form: " + ", ".join(unknown),
                            {k: ["not a field of this form"] for k in unknown})
        for key, value in body.validated_data["values"].items():
            row[names[key]] = "" if value is None else str(value)
        from django.http import QueryDict

        from api.redcap.imports import import_records

        data = QueryDict(mutable=True)
        import json

        data.update({"data": json.dumps([row]), "type": "flat", "overwriteBehavior": "overwrite",
                     "reason": body.validated_data.get("reason", "")})
        with audit_context(request):
            import_records(project=project, data=data, fmt="json")
        return Response(s.FormSerializer(_form_rows(request.user, subject, inst), many=True).data)


def _problem(code: int, detail: str, fields=None):
    from api.rest.errors import problem

    return problem(code, detail, fields)


# --- screenings -----------------------------------------------------------------------------


class ScreeningList(Audited, generics.ListCreateAPIView):
    """Screenings at the sites where the user screens (eligibility.selectors.screening_list);
    POST starts one through eligibility.services.screening_create, with the screening form's
    own parsing and checks (values as the form takes them; times in the site's zone)."""

    serializer_class = s.ScreeningSerializer

    def get_queryset(self):
        from eligibility.selectors import screening_list

        return screening_list(user=self.request.user).order_by()

    @extend_schema(request=s.ScreeningCreateSerializer, responses={201: s.ScreeningSerializer})
    def post(self, request):
        from django.http import QueryDict

        from core.roles import Action
        from eligibility import services as el
        from eligibility.forms import PassFormSet, ScreeningForm
        from eligibility.views import _form_data

        body = s.ScreeningCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site = Site.objects.filter(code=body.validated_data["site"]).first()
        if site is None or not access.can(request.user, Action.SCREEN, site):
            raise NotPermitted(f"site: you do not screen at site {body.validated_data['site']}.")
        data = QueryDict(mutable=True)
        for key, value in body.validated_data["values"].items():
            data[key] = "" if value is None else value
        passes = body.validated_data.get("passes") or []
        data.update({"passes-TOTAL_FORMS": str(len(passes)), "passes-INITIAL_FORMS": "0"})
        for n, p in enumerate(passes):
            for key, value in p.items():
                data[f"passes-{n}-{key}"] = "" if value is None else value
        form = ScreeningForm(data, can_attest=access.can(request.user, Action.CONFIRM_ELIGIBILITY, site),
                             tz_name=site.time_zone)
        formset = PassFormSet(data, prefix="passes")
        form_ok, formset_ok = form.is_valid(), formset.is_valid()
        if not (form_ok and formset_ok):
            fields = {k: [str(m) for m in v] for k, v in form.errors.items()}
            for n, errors in enumerate(formset.errors):
                for k, v in errors.items():
                    fields[f"passes[{n}].{k}"] = [str(m) for m in v]
            for m in formset.non_form_errors():
                fields.setdefault("passes", []).append(str(m))
            return _problem(400, "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()), fields)
        try:
            with audit_context(request):
                screening = el.screening_create(site=site, user=request.user, data=_form_data(form, formset))
        except PermissionDenied:
            raise
        except DomainError as exc:
            errors = getattr(exc, "errors", None) or {"non_field_errors": str(exc)}
            return _problem(400, str(exc), {k: [str(v)] for k, v in errors.items()})
        return Response(s.ScreeningSerializer(screening).data, status=status.HTTP_201_CREATED)


class ScreeningConfirm(Audited, APIView):
    """The investigator confirms eligibility (eligibility.services.screening_confirm)."""

    @extend_schema(request=None, responses={200: s.ScreeningSerializer})
    def post(self, request, number: str):
        from core.roles import Action
        from eligibility import services as el
        from eligibility.selectors import screening_list

        screening = screening_list(user=request.user).filter(number=number).first()
        if screening is None:
            raise Http404
        if not access.can(request.user, Action.CONFIRM_ELIGIBILITY, screening.site_id):
            raise NotPermitted("Only an investigator of this site may confirm eligibility.")
        try:
            with audit_context(request):
                screening = el.screening_confirm(screening=screening, user=request.user)
        except PermissionDenied:
            raise
        except DomainError as exc:
            raise ParameterInvalid(str(exc)) from exc
        return Response(s.ScreeningSerializer(screening).data)


# --- queries --------------------------------------------------------------------------------


class QueryList(Audited, generics.ListCreateAPIView):
    """Queries the user may see (datamanagement.selectors.visible_queries); POST raises one."""

    serializer_class = s.QuerySerializer

    def get_queryset(self):
        from datamanagement.selectors import visible_queries

        return visible_queries(self.request.user).select_related("site", "subject")

    @extend_schema(request=s.QueryRaiseSerializer, responses={201: s.QuerySerializer})
    def post(self, request):
        from datamanagement.selectors import crf_instance_for
        from datamanagement.services import query_open

        body = s.QueryRaiseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _crf, instance = crf_instance_for(user=request.user, code=body.validated_data["form"].upper(),
                                          pk=body.validated_data["record"])
        try:
            with audit_context(request):
                query = query_open(user=request.user, instance=instance, field_name=body.validated_data["field"],
                                   text=body.validated_data["text"])
        except PermissionDenied:
            raise
        except DomainError as exc:
            raise ParameterInvalid(str(exc)) from exc
        return Response(s.QuerySerializer(query).data, status=status.HTTP_201_CREATED)


class QueryAction(Audited, APIView):
    """Answer or close a query (the same services and checks as the query page)."""

    action = ""

    @extend_schema(request=s.QueryTextSerializer, responses={200: s.QuerySerializer})
    def post(self, request, pk: int):
        from datamanagement import services as dm
        from datamanagement.selectors import query_detail

        body = s.QueryTextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = query_detail(user=request.user, pk=pk)
        service = {"answer": dm.query_answer, "close": dm.query_close}[self.action]
        try:
            with audit_context(request):
                query = service(user=request.user, query=query, text=body.validated_data.get("text", ""))
        except PermissionDenied:
            raise
        except DomainError as exc:
            raise ParameterInvalid(str(exc)) from exc
        return Response(s.QuerySerializer(query).data)


# --- SDV ------------------------------------------------------------------------------------


class SdvMark(Audited, APIView):
    """Mark a form (or some of its fields) source-verified (monitors of the site)."""

    @extend_schema(request=s.SdvSerializer, responses={200: inline_serializer(
        "SdvResult", {"marked": serializers.IntegerField()})})
    def post(self, request):
        from datamanagement.selectors import crf_instance_for
        from datamanagement.services import sdv_mark

        body = s.SdvSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _crf, instance = crf_instance_for(user=request.user, code=body.validated_data["form"].upper(),
                                          pk=body.validated_data["record"])
        try:
            with audit_context(request):
                marked = sdv_mark(user=request.user, instance=instance, fields=body.validated_data.get("fields") or None)
        except PermissionDenied:
            raise
        except DomainError as exc:
            raise ParameterInvalid(str(exc)) from exc
        return Response({"marked": marked})


# --- dictionary, exports, audit -------------------------------------------------------------


class Dictionary(Audited, APIView):
    """The data dictionary the user may export (blinded unless unblinded exports are allowed)."""

    @extend_schema(responses=s.DictionarySerializer(many=True))
    def get(self, request):
        from exports import selectors as ex
        from exports.columns import tables
        from exports.dataset import Scope
        from exports.dictionary import dictionary_entries

        if not ex.may_export(request.user):
            raise NotPermitted("The data dictionary is part of the exports: your roles do not include exports.")
        blinded = not ex.may_export_unblinded(request.user)
        site_ids = tuple(ex.export_sites(request.user).values_list("pk", flat=True))
        entries = dictionary_entries(tables(blinded=blinded), Scope(blinded=blinded, site_ids=site_ids))
        return Response(s.DictionarySerializer(entries, many=True).data)


class ExportList(Audited, generics.ListCreateAPIView):
    """The user's own exports; POST starts one (exports.services.export_request)."""

    serializer_class = s.ExportSerializer
    pagination_class = None

    def get_queryset(self):
        from exports.selectors import export_list, may_export

        if not may_export(self.request.user):
            raise NotPermitted("Exports are for data managers, monitors, the statistician and administrators.")
        return export_list(self.request.user)

    @extend_schema(request=s.ExportRequestSerializer, responses={201: s.ExportSerializer})
    def post(self, request):
        from exports.exceptions import ExportError
        from exports.services import export_request

        body = s.ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site_ids = None
        if body.validated_data.get("sites"):
            codes = body.validated_data["sites"]
            site_ids = list(Site.objects.filter(code__in=codes).values_list("pk", flat=True))
            if len(site_ids) != len(set(codes)):
                raise ParameterInvalid("sites: unknown site code among " + ", ".join(codes))
        try:
            with audit_context(request):
                export = export_request(user=request.user, formats=body.validated_data["formats"],
                                        blinded=body.validated_data.get("blinded", True), site_ids=site_ids,
                                        forms=body.validated_data.get("forms") or None)
        except ExportError as exc:
            raise (NotPermitted(str(exc)) if exc.__class__.__name__ == "ExportNotPermitted"
                   else ParameterInvalid(str(exc))) from exc
        return Response(s.ExportSerializer(export).data, status=status.HTTP_201_CREATED)


class ExportDetail(Audited, APIView):
    """Progress of one of the user's exports."""

    @extend_schema(responses=s.ExportSerializer)
    def get(self, request, export_id):
        from exports.selectors import export_get

        return Response(s.ExportSerializer(export_get(request.user, export_id)).data)


class ExportDownload(Audited, APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, export_id):
        from exports.models import ExportStatus
        from exports.selectors import export_get
        from exports.services import export_download_record

        export = export_get(request.user, export_id)
        if export.status != ExportStatus.DONE or export.path is None or not export.path.exists():
            raise Http404
        export_download_record(export=export, user=request.user)
        return FileResponse(export.path.open("rb"), as_attachment=True, filename=export.path.name)


class AuditTrail(Audited, APIView):
    """The audit trail (monitors, data managers, administrators), blinded as in the viewer."""

    @extend_schema(responses=s.AuditEntrySerializer(many=True),
                   parameters=[OpenApiParameter("subject", OpenApiTypes.STR),
                               OpenApiParameter("form", OpenApiTypes.STR)])
    def get(self, request):
        from datamanagement.audit_trail import audit_entries

        entries = audit_entries(user=request.user, subject=request.query_params.get("subject") or None,
                                form=(request.query_params.get("form") or "").upper() or None, limit=500)
        return Response(s.AuditEntrySerializer(entries, many=True).data)



# --- ODM of a subject -----------------------------------------------------------------------


class OdmRenderer(BaseRenderer):
    media_type = "application/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return JSONRenderer().render(data)


class SubjectOdm(Audited, APIView):
    """The subject's CDISC ODM 1.3.2 document (study metadata, the forms the user may read at the
    subject's site with their full audit trail), blinded unless the user may see the arm
    there: a blinded document has no randomization form or item group."""

    renderer_classes = [JSONRenderer, OdmRenderer]

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.STR})
    def get(self, request, number: str):
        from api.rest.odm import subject_odm
        from followup.selectors import subject_for

        subject = subject_for(request.user, number)
        body = subject_odm(user=request.user, subject=subject)
        response = HttpResponse(body, content_type="application/xml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{subject.number}.odm.xml"'
        return response


class SubjectAdjudication(Audited, APIView):
    """The subject's adjudicated values beside the site's, and the analysis values with the rule
    "adjudicated when final, else site" and its source flag — for those who may see
    adjudication results (statistician, data manager). The angiography read only for users who
    may see the arm at the subject's site (adjudication.selectors decides)."""

    @extend_schema(responses=s.AdjudicationSerializer)
    def get(self, request, number: str):
        from adjudication.results import analysis_values
        from adjudication.selectors import may_see_results, subject_results
        from followup.selectors import subject_for

        subject = subject_for(request.user, number)
        if not may_see_results(request.user):
            raise NotPermitted("Adjudication results are for the statistician and the data manager.")
        analysis = analysis_values([subject.pk]).get(subject.pk, {})
        body = {"subject": subject.number, "values": subject_results(request.user, subject),
                "analysis": {k: v for k, v in analysis.items() if not k.endswith("_adj")}}
        return Response(s.AdjudicationSerializer(body).data)
