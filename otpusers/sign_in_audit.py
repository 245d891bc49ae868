"""Staff sign-ins and failed sign-ins (the admin's, and any other made through django.contrib.auth) go to the
audit trail."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from otpusers.audit import staff_sign_in_record


@receiver(user_logged_in, dispatch_uid="otpusers.audit_sign_in")
def audit_sign_in(sender, request, user, **kwargs) -> None:
    staff_sign_in_record(request=request, user=user)


@receiver(user_login_failed, dispatch_uid="otpusers.audit_sign_in_failure")
def audit_sign_in_failure(sender, credentials, request=None, **kwargs) -> None:
    # django-axes flags a request it refused because the username or address is locked out.
    reason = "locked_out" if getattr(request, "axes_locked_out", False) else "wrong_credentials"
    staff_sign_in_record(request=request, username=str(credentials.get("username", "")), reason=reason)
