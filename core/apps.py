from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Users and sites")  # the admin's heading of the users, sites and memberships

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from core.middleware import mark_seen_at_sign_in

        user_logged_in.connect(mark_seen_at_sign_in, dispatch_uid="core.mark_seen_at_sign_in")
