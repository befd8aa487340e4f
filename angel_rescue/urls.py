from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core import forced_change, user_admin
from core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("account/login/", core_views.LoginView.as_view(), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/2fa/", core_views.two_factor, name="two_factor"),
    path("account/keepalive/", core_views.keepalive, name="keepalive"),
    path("account/unlock/", core_views.unlock, name="unlock"),
    path("account/password/", forced_change.password_change_forced_view, name="password_change_forced"),
    path("account/users/", user_admin.user_list, name="user_list"),
    path("account/users/invite/", user_admin.user_invite_view, name="user_invite"),
    path("account/users/<int:user_id>/", user_admin.user_detail, name="user_detail"),
    path("account/users/<int:user_id>/<str:action>/", user_admin.user_action, name="user_action"),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon),
    path("i18n/setlang/", core_views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("screening/", include("eligibility.urls")),
    path("randomization/", include("randomization.urls")),
    path("subjects/", include("followup.urls")),
    path("data/", include("datamanagement.urls")),
    path("exports/", include("exports.urls")),
    path("backups/", include("backups.urls")),
    path("api/", include("api.urls")),
    path("adjudication/", include("adjudication.urls")),
]

handler403 = "core.views.error_403"
handler404 = "core.views.error_404"
handler500 = "core.views.error_500"
