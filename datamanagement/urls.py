from django.urls import path

from core.views import home

app_name = "datamanagement"
# Placeholder routes: the issue that builds this app replaces them.
urlpatterns = [
    path("queries/", home, name="queries"),
    path("audit/", home, name="audit"),
]
