"""Staff sign-in: lockout after repeated failures (django-axes, by username and by address), every sign-in
and failure in the audit trail (otpusers/sign_in_audit.py), and a second factor (django-otp: TOTP, with single-use
backup codes).

The admin site itself is Django's (or a theme's): the second factor is enforced here, by a middleware. A
staff user who has signed in with a password but not yet with a second factor, where one is required
(OTPSITE_STAFF_TWO_FACTOR, or the user has enrolled one), is sent from any admin page to the two-factor
page (or, having no device yet, to the enrolment page), and is anonymous to everything else (the browsable
API included) until they pass it.
"""

import io
from base64 import b32encode

from axes.backends import AxesStandaloneBackend
from django import forms
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

from otpsite import limits
from otpsite.middleware import client_ip
from otpusers.audit import Actor, audit_record
from otpusers.choices import Outcome

BACKUP_CODES = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


class StaffLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for sign-ins that come with a request (the admin's). Code that calls
    authenticate() without one (a shell, a test client's login) has no address to lock and is let through
    to the password check."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


ENROLLED_SESSION_KEY = "staff_two_factor_enrolled"


def two_factor_required(request) -> bool:
    """Required of everyone by the setting, or of this user because they enrolled (looked up at sign-in, see
    remember_enrolment, so that the admin's pages run no query for it; a session from before that is looked
    up once)."""
    if settings.OTPSITE_STAFF_TWO_FACTOR:
        return True
    if ENROLLED_SESSION_KEY not in request.session:
        request.session[ENROLLED_SESSION_KEY] = user_has_device(request.user, confirmed=True)
    return request.session[ENROLLED_SESSION_KEY]


@receiver(user_logged_in, dispatch_uid="otpsite.staff_auth.remember_enrolment")
def remember_enrolment(sender, request, user, **kwargs) -> None:
    """Whether a staff user has a second factor, noted in the session a sign-in starts (which is saved
    anyway), only where the setting does not already require one of everybody."""
    session = getattr(request, "session", None)
    if session is not None and user.is_staff and not settings.OTPSITE_STAFF_TWO_FACTOR:
        session[ENROLLED_SESSION_KEY] = user_has_device(user, confirmed=True)


class StaffTwoFactorMiddleware:
    """After django_otp.middleware.OTPMiddleware: holds a staff session at the second factor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_staff and not user.is_verified() and two_factor_required(request):
            path = request.path_info
            open_paths = {reverse("staff_two_factor"), reverse("staff_two_factor_enrol"), reverse("admin:logout")}
            if path.startswith(reverse("admin:index")) and path not in open_paths:
                return redirect_to_login(request.get_full_path(), reverse("staff_two_factor"), "next")
            if path not in open_paths:
                request.user = AnonymousUser()
        return self.get_response(request)


class TokenForm(forms.Form):
    token = forms.CharField(
        max_length=16,
        label="Code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _audit(request, action: str, outcome: Outcome = Outcome.SUCCESS, reason: str = "", **detail) -> None:
    audit_record(
        actor=Actor.from_request(request),
        action=action,
        organization=None,
        target=request.user,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )


def _signed_in(request):
    if not (request.user.is_authenticated and request.user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"), "next")
    return None


def _context(request, **extra) -> dict:
    return {"title": "Two-factor sign-in", "site_header": "otpsite administration", "next": _next_url(request), **extra}


@require_http_methods(["GET", "POST"])
def two_factor(request):
    """The second step of a staff sign-in: a code from the authenticator app, or a backup code."""
    refused = _signed_in(request)
    if refused:
        return refused
    if not user_has_device(request.user, confirmed=True):
        return redirect(f"{reverse('staff_two_factor_enrol')}?next={_next_url(request)}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_ip(request)
        try:
            limits.refuse_blocked_address(address)
        except limits.LimitExceeded as exceeded:
            response = render(request, "staff/two_factor.html", _context(request, form=form, blocked=True), status=429)
            response["Retry-After"] = str(exceeded.retry_after)
            return response
        device = match_token(request.user, form.cleaned_data["token"].replace(" ", ""))
        if device is not None:
            otp_login(request, device)
            _audit(request, "staff.two_factor", device=device.__class__.__name__)
            return redirect(_next_url(request))
        limits.record_failed_authentication(address)
        _audit(request, "staff.two_factor", Outcome.FAILURE, reason="wrong_code")
        form.add_error("token", "That code is not right (or was used already, or came too soon after a wrong one).")
    return render(request, "staff/two_factor.html", _context(request, form=form))


def _qr_svg(device: TOTPDevice) -> str:
    out = io.BytesIO()
    write_qrcode_image(device.config_url, out)
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]  # without the XML declaration, to sit inline in the page


@require_http_methods(["GET", "POST"])
def two_factor_enrol(request):
    """Enrolment for the signed-in staff user: scan the QR code, confirm with one code, note the backup
    codes (shown once). A user who already has a device must pass it before enrolling a new one."""
    refused = _signed_in(request)
    if refused:
        return refused
    user = request.user
    if user_has_device(user, confirmed=True) and not user.is_verified():
        return redirect(f"{reverse('staff_two_factor')}?next={_next_url(request)}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
        user=user, name=TOTP_DEVICE_NAME, confirmed=False
    )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].replace(" ", "")):
            backup_codes = _enrol(user, device)
            otp_login(request, device)
            request.session[ENROLLED_SESSION_KEY] = True
            _audit(request, "staff.two_factor_enrol")
            return render(request, "staff/backup_codes.html", _context(request, backup_codes=backup_codes))
        form.add_error("token", "That code is not right. Check the time on your phone and try the next code.")
    return render(
        request,
        "staff/two_factor_enrol.html",
        _context(request, form=form, qr_svg=_qr_svg(device), secret=b32encode(device.bin_key).decode()),
    )


def _enrol(user, device: TOTPDevice) -> list[str]:
    """Confirms the new device (replacing any other) and makes a fresh set of backup codes."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    backup, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": BACKUP_DEVICE_NAME})
    backup.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    return codes
