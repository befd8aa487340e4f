from django.urls import path

from core.views import home

app_name = "followup"
# Placeholder routes: the issue that builds this app replaces them.
urlpatterns = [
    path("subjects/", home, name="subjects"),
]
