from django.apps import AppConfig


class OtpusersConfig(AppConfig):
    name = "otpusers"
    verbose_name = "Tenancy and people"
    default_auto_field = "django.db.models.BigAutoField"
