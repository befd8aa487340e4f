from django.urls import path

from core.views import home

app_name = "eligibility"
# Placeholder routes: the issue that builds this app replaces them.
urlpatterns = [
    path("list/", home, name="list"),
    path("log/", home, name="log"),
]
