from django.urls import path

from exports import report_views, views

app_name = "exports"
urlpatterns = [
    path("center/", views.center, name="center"),
    path("center/<uuid:export_id>/status/", views.status, name="status"),
    path("center/<uuid:export_id>/download/", views.download, name="download"),
    path("dictionary/", views.dictionary, name="dictionary"),
    path("reports/", report_views.index, name="reports"),
    path("reports/consort/", report_views.consort, name="consort"),
    path("reports/missing/", report_views.missing, name="missing"),
    path("reports/compliance/", report_views.compliance, name="compliance"),
    path("reports/queries/", report_views.queries, name="queries"),
    path("reports/dsmb/", report_views.dsmb, name="dsmb"),
]
