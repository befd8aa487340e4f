"""Serializers of the REST API. None has a treatment-arm field: blinding holds by construction."""

from __future__ import annotations

from rest_framework import serializers


class SiteSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    time_zone = serializers.CharField()
    active = serializers.BooleanField()


class SubjectSerializer(serializers.Serializer):
    number = serializers.CharField()
    site = serializers.CharField(source="site.code")
    randomized_at = serializers.DateTimeField()
    status = serializers.CharField()


class FormSerializer(serializers.Serializer):
    form = serializers.CharField()
    instance = serializers.IntegerField()
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    values = serializers.DictField(child=serializers.CharField(allow_null=True, allow_blank=True))


class FormChangeSerializer(serializers.Serializer):
    values = serializers.DictField(child=serializers.CharField(allow_null=True, allow_blank=True),
                                   allow_empty=False, help_text="Model field name → new raw value.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                   help_text="Reason for change (required to change saved data).")
    version = serializers.IntegerField(required=False, min_value=1,
                                       help_text="The version read, when If-Match is not sent.")
    instance = serializers.IntegerField(required=False, min_value=1, max_value=100000,
                                        help_text="Repeating forms: the instance number (1…).")


class ScreeningSerializer(serializers.Serializer):
    number = serializers.CharField()
    site = serializers.CharField(source="site.code")
    created_at = serializers.DateTimeField()
    verdict_status = serializers.CharField()
    outcome = serializers.CharField()
    confirmed_at = serializers.DateTimeField(allow_null=True)


class ScreeningCreateSerializer(serializers.Serializer):
    site = serializers.RegexField(r"^\d{3}$", help_text="Site code, e.g. 001.")
    values = serializers.DictField(child=serializers.CharField(allow_null=True, allow_blank=True, max_length=2000),
                                   help_text="Screening form fields as the form takes them (times in the "
                                             "site's zone, YYYY-MM-DD HH:MM).")
    passes = serializers.ListField(child=serializers.DictField(
        child=serializers.CharField(allow_null=True, allow_blank=True, max_length=200)),
        required=False, max_length=10, help_text="Thrombectomy passes: technique, etici.")


class QuerySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    form = serializers.CharField(source="crf_code")
    record = serializers.IntegerField(source="object_id")
    field = serializers.CharField(source="field_name")
    object_label = serializers.CharField()
    site = serializers.CharField(source="site.code")
    status = serializers.CharField()
    text = serializers.CharField()
    opened_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class QueryRaiseSerializer(serializers.Serializer):
    form = serializers.CharField(max_length=40, help_text="Form code, e.g. V2_24H.")
    record = serializers.IntegerField(min_value=1, max_value=2**62, help_text="The form row's id.")
    field = serializers.CharField(max_length=100)
    text = serializers.CharField(max_length=2000)


class QueryTextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class SdvSerializer(serializers.Serializer):
    form = serializers.CharField(max_length=40)
    record = serializers.IntegerField(min_value=1, max_value=2**62)
    fields = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=500)


class DictionarySerializer(serializers.Serializer):
    table = serializers.CharField()
    variable = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    allowed_values = serializers.CharField(allow_blank=True)
    statistical_coding = serializers.CharField(allow_blank=True)
    form = serializers.CharField(allow_blank=True)
    visit = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)


class ExportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    formats = serializers.ListField(child=serializers.CharField())
    blinded = serializers.BooleanField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    step = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    sha256 = serializers.CharField(allow_blank=True)


class ExportRequestSerializer(serializers.Serializer):
    formats = serializers.ListField(child=serializers.ChoiceField(choices=["csv", "odm", "xpt", "dta", "sav"]),
                                    allow_empty=False, max_length=5)
    blinded = serializers.BooleanField(required=False, default=True)
    sites = serializers.ListField(child=serializers.RegexField(r"^\d{3}$"), required=False, max_length=100)
    forms = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=50)


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    username = serializers.CharField(allow_blank=True)
    form = serializers.CharField(allow_blank=True)
    object_label = serializers.CharField(allow_blank=True)
    field = serializers.CharField(allow_blank=True)
    old = serializers.CharField(allow_null=True, allow_blank=True)
    new = serializers.CharField(allow_null=True, allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    summary = serializers.CharField(allow_blank=True)


class AdjudicatedValueSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="The case kind (the worklist).")
    field = serializers.CharField()
    site = serializers.JSONField(allow_null=True, help_text="The site's value.")
    adjudicated = serializers.JSONField(allow_null=True, help_text="The adjudicated value once the case is final.")
    status = serializers.CharField(allow_null=True, help_text="The case status, or null when there is no case.")


class AdjudicationSerializer(serializers.Serializer):
    subject = serializers.CharField()
    values = AdjudicatedValueSerializer(many=True)
    analysis = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        help_text="The analysis table's values: <endpoint>_analysis = adjudicated when final, else "
                  "site; <endpoint>_src = which one was used (adjudicated / site).")
