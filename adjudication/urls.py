from django.urls import path

from adjudication import views

app_name = "adjudication"
urlpatterns = [
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("cases/<int:pk>/", views.case, name="case"),
    path("cases/<int:pk>/claim/", views.claim, name="claim"),
    path("material/<int:pk>/", views.material, name="material"),
    path("subjects/<str:number>/material/", views.subject_material, name="subject_material"),
    path("status/", views.status, name="status"),
    path("agreement/", views.agreement, name="agreement"),
    path("dsmb/", views.dsmb, name="dsmb"),
    path("dsmb/<int:pk>/closed/", views.dsmb_closed, name="dsmb_closed"),
    path("dsmb/<int:pk>/open/", views.dsmb_open, name="dsmb_open"),
]
