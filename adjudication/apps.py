from django.apps import AppConfig


class AdjudicationConfig(AppConfig):
    name = "adjudication"
    verbose_name = "Central adjudication"
    default_auto_field = "django.db.models.BigAutoField"
