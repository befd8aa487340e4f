from django.urls import path

from core.views import home

app_name = "randomization"
# Placeholder routes: the issue that builds this app replaces them.
urlpatterns = [
    path("home/", home, name="home"),
    path("lists/", home, name="lists"),
]
