from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender, using="default", **kwargs):
    # Tables of tracked models added by later migrations get their chain trigger, and the
    # runtime database role its (least) privileges on every table, after each `migrate`.
    from audit import chain, dbroles

    chain.install(using=using)
    dbroles.apply_grants(using=using)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from audit import signals  # noqa: F401

        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="audit_chain_and_grants")
