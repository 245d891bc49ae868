from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "otpsite.api"
    label = "otpsite_api"
    verbose_name = "API"

    def ready(self) -> None:
        # Registers the OpenAPI description of the API-key authentication schemes.
        from otpsite.api import schema  # noqa: F401
