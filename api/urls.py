from django.urls import include, path

from api import views
from api.redcap import views as redcap_views

app_name = "api"

urlpatterns = [
    path("", redcap_views.redcap, name="redcap"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="token_revoke"),
    path("v1/", include("api.rest.urls")),
]
