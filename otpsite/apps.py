from django.apps import AppConfig


class OtpsiteConfig(AppConfig):
    name = "otpsite"

    def ready(self) -> None:
        from otpsite import staff_auth  # noqa: F401  (connects the sign-in receiver)
        from otpsite.console_rendering import build_headers_once, render_checkboxes_once

        build_headers_once()
        render_checkboxes_once()
