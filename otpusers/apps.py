from django.apps import AppConfig


class OtpusersConfig(AppConfig):
    name = "otpusers"
    verbose_name = "Tenancy and people"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models import CharField
        from django.db.models.functions import Lower

        from otpusers.lookups import IsSet

        # `field__lower=value.lower()` compiles to LOWER(field) = value, which the case-insensitive unique
        # indexes on identifiers serve; `__iexact` (UPPER(...) = UPPER(...)) would scan the table.
        CharField.register_lookup(Lower)
        CharField.register_lookup(IsSet)

        from otpusers import sign_in_audit  # noqa: F401
