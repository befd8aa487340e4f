from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.rest import views as v

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("sites/", v.SiteList.as_view(), name="sites"),
    path("subjects/", v.SubjectList.as_view(), name="subjects"),
    path("subjects/<str:number>/", v.SubjectDetail.as_view(), name="subject"),
    path("subjects/<str:number>/adjudication/", v.SubjectAdjudication.as_view(), name="subject_adjudication"),
    path("subjects/<str:number>/odm/", v.SubjectOdm.as_view(), name="subject_odm"),
    path("subjects/<str:number>/forms/", v.SubjectForms.as_view(), name="subject_forms"),
    path("subjects/<str:number>/forms/<str:form>/", v.SubjectForm.as_view(), name="subject_form"),
    path("screenings/", v.ScreeningList.as_view(), name="screenings"),
    path("screenings/<str:number>/confirm/", v.ScreeningConfirm.as_view(), name="screening_confirm"),
    path("queries/", v.QueryList.as_view(), name="queries"),
    path("queries/<int:pk>/answer/", v.QueryAction.as_view(action="answer"), name="query_answer"),
    path("queries/<int:pk>/close/", v.QueryAction.as_view(action="close"), name="query_close"),
    path("sdv/", v.SdvMark.as_view(), name="sdv"),
    path("dictionary/", v.Dictionary.as_view(), name="dictionary"),
    path("exports/", v.ExportList.as_view(), name="exports"),
    path("exports/<uuid:export_id>/", v.ExportDetail.as_view(), name="export"),
    path("exports/<uuid:export_id>/download/", v.ExportDownload.as_view(), name="export_download"),
    path("audit/", v.AuditTrail.as_view(), name="audit"),
]
