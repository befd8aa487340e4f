from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DatamanagementConfig(AppConfig):
    name = "datamanagement"
    verbose_name = "Data management"

    def ready(self):
        from datamanagement.locks import install_lock_triggers

        # After every migrate: put the lock trigger on every registered CRF table (forms of
        # all apps are registered by then; the call is idempotent).
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="datamanagement_lock_triggers")
        self._install = install_lock_triggers


def _install_triggers(sender, using="default", **kwargs):
    from datamanagement import upkeep
    from datamanagement.locks import install_lock_triggers

    install_lock_triggers(using=using)
    upkeep.install(using=using)
