from django.urls import path

from eligibility import views

app_name = "eligibility"
urlpatterns = [
    path("list/", views.screening_list_view, name="list"),
    path("new/", views.screening_create_view, name="create"),
    path("verdict/", views.screening_verdict_view, name="verdict"),
    path("log/", views.screening_log_view, name="log"),
    path("<int:pk>/", views.screening_detail_view, name="detail"),
    path("<int:pk>/edit/", views.screening_edit_view, name="edit"),
    path("<int:pk>/confirm/", views.screening_confirm_view, name="confirm"),
    path("<int:pk>/close/", views.screening_close_view, name="close"),
]
