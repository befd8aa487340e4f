from django.urls import path

from randomization import views

app_name = "randomization"
urlpatterns = [
    path("home/", views.home, name="home"),
    path("screening/<int:screening_id>/", views.randomize, name="randomize"),
    path("allocation/<int:allocation_id>/", views.result, name="result"),
    path("lists/", views.lists, name="lists"),
    path("lists/generate/", views.list_generate, name="list_generate"),
    path("lists/import/", views.list_import, name="list_import"),
    path("lists/config/", views.config, name="config"),
    path("lists/<int:list_id>/", views.list_detail, name="list_detail"),
    path("lists/<int:list_id>/csv/", views.list_csv, name="list_csv"),
    path("lists/<int:list_id>/active/", views.list_set_active, name="list_set_active"),
    path("simulations/", views.simulations, name="simulations"),
    path("simulations/<int:run_id>/", views.simulation, name="simulation"),
    path("simulations/<int:run_id>/status/", views.simulation_status, name="simulation_status"),
    path("breaches/", views.breaches, name="breaches"),
    path("breaches/new/", views.breach_new, name="breach_new"),
    path("notifications/", views.notifications, name="notifications"),
]
