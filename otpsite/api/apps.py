from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "otpsite.api"
    label = "otpsite_api"
    verbose_name = "API"

    def ready(self) -> None:
        # Registers the OpenAPI description of the authentication schemes, and the production-secret check.
        from otpsite import checks  # noqa: F401
        from otpsite.api import schema  # noqa: F401
