from django.urls import path

from datamanagement import views

app_name = "datamanagement"
urlpatterns = [
    path("queries/", views.queries, name="queries"),
    path("queries/<int:pk>/", views.query_detail, name="query"),
    path("forms/", views.forms_list, name="forms"),
    path("crf/<str:code>/<int:pk>/", views.crf_review, name="crf"),
    path("crf/<str:code>/<int:pk>/query/", views.crf_query_open, name="query_open"),
    path("crf/<str:code>/<int:pk>/sdv/", views.crf_sdv, name="sdv_mark"),
    path("crf/<str:code>/<int:pk>/lock/", views.crf_lock, name="crf_lock"),
    path("crf/<str:code>/<int:pk>/edit/<str:field>/", views.crf_edit_field, name="edit_field"),
    path("subjects/<int:pk>/", views.subject_overview, name="subject"),
    path("subjects/<int:pk>/sign/", views.sign, name="sign"),
    path("subjects/<int:pk>/lock/", views.subject_lock, name="subject_lock"),
    path("sdv/", views.sdv_progress, name="sdv"),
    path("locks/", views.locks, name="locks"),
    path("audit/", views.audit, name="audit"),
    path("editchecks/", views.edit_checks, name="editchecks"),
]
