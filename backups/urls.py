from django.urls import path

from backups import views

app_name = "backups"
urlpatterns = [
    path("", views.history, name="history"),
    path("now/", views.backup_now, name="backup_now"),
]
