from django.urls import path

from followup import views

app_name = "followup"
urlpatterns = [
    path("", views.subjects, name="subjects"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("<str:number>/", views.casebook, name="casebook"),
    path("<str:number>/form/<str:code>/", views.crf, name="crf"),
    path("<str:number>/form/<str:code>/<int:pk>/", views.crf, name="crf_row"),
]
