import ipaddress
import logging
import time
import uuid
from functools import lru_cache

import structlog
from django.conf import settings
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured

from credentials import observability
from otpsite import metrics

request_logger = logging.getLogger("otpsite.request")

# The surface a request belongs to, by path prefix: a label of logs and metrics.
SURFACES = (
    ("/v1/organizations/", "applivery"),
    ("/v2/otp", "capillary"),
    ("/manage/", "manage"),
    ("/nevisidm/", "nevisidm"),
    ("/store/", "store"),
    ("/admin/", "admin"),
    ("/api/", "docs"),
)
QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


def _offered_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def surface_of(path: str) -> str:
    return next((surface for prefix, surface in SURFACES if path.startswith(prefix)), "other")


def bind_caller(request) -> None:
    """Adds the organization and actor to the log context once authentication has named them."""
    from otpusers.models import ApiKey

    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        observability.bind(organization=auth.organization_id, actor=f"api_key:{auth.key_id}")
        return
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False):
        observability.bind(actor=f"staff:{user.pk}")


class RequestIdMiddleware:
    """Gives every request an id (kept on audit events, echoed as X-Request-ID), binds the log context
    (request id, surface, then organization and actor), counts the request for /metrics and logs one line
    for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A caller may pass its own UUID to correlate logs; anything else is replaced, so that request ids
        # are always UUIDs (the manage surface's apiRequestId) and cannot inject into logs or headers.
        request.request_id = _offered_uuid(request.headers.get("X-Request-ID", "")) or str(uuid.uuid4())
        structlog.contextvars.clear_contextvars()
        observability.bind(request_id=request.request_id, surface=surface_of(request.path))
        recorder = metrics.RequestMetrics()
        started = time.perf_counter()
        with metrics.observe_database(recorder):
            response = self.get_response(request)
        duration = time.perf_counter() - started
        response.headers.setdefault("X-Request-ID", request.request_id)
        bind_caller(request)
        recorder.record(request, response, duration)
        if request.path not in QUIET_PATHS:
            request_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": metrics.route_of(request),
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 1),
                    "statements": recorder.statements,
                },
            )
        structlog.contextvars.clear_contextvars()
        return response


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted_networks() -> tuple:
    return _parse_networks(tuple(settings.OTPSITE_TRUSTED_PROXIES))


@lru_cache(maxsize=4)
def _parse_networks(entries: tuple[str, ...]) -> tuple:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as error:
        raise ImproperlyConfigured(f"OTPSITE_TRUSTED_PROXIES: {error}") from None


def client_ip_from(meta) -> str | None:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy (OTPSITE_TRUSTED_PROXIES), in which
    case X-Forwarded-For is read from the right, past every trusted proxy, to the first address that is not
    one. Nothing a client sends is believed unless a trusted proxy added it."""
    remote = _address(meta.get("REMOTE_ADDR", ""))
    trusted = _trusted_networks()
    if remote is None or not trusted:
        return str(remote) if remote else None
    client = remote
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        if not any(client in network for network in trusted):
            break
        forwarded = _address(hop)
        if forwarded is None:
            break
        client = forwarded
    return str(client)


def client_ip(request) -> str | None:
    """The one answer to "who is calling" used by the limits, axes and the audit trail."""
    if not hasattr(request, "client_ip"):
        request.client_ip = client_ip_from(request.META)
    return request.client_ip


class ClientIpMiddleware:
    """Sets `request.client_ip` once per request (see client_ip_from)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip_from(request.META)
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """Sends OTPSITE_PERMISSIONS_POLICY as the Permissions-Policy header on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.OTPSITE_PERMISSIONS_POLICY)
        return response


# The second-factor pages (otpsite.staff_auth) live beside the admin site and share its layout.
STAFF_SIGN_IN_PAGES = {"staff_two_factor", "staff_two_factor_enrol"}


class StaffConsoleScriptPolicyMiddleware:
    """Adds OTPSITE_STAFF_CONSOLE_CSP_UPDATE to the Content-Security-Policy of the admin's pages only.
    django-unfold drives its pages with Alpine.js, whose standard build compiles every x-data/x-on
    expression with the Function constructor ('unsafe-eval'); its CSP build cannot read unfold's
    templates (globals, statements, arrow functions). The public pages, API docs and API keep the strict
    policy. Sits inside CSPMiddleware, which reads the update off the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        in_console = match is not None and (match.app_name == "admin" or match.url_name in STAFF_SIGN_IN_PAGES)
        if in_console and not hasattr(response, "_csp_update"):
            response._csp_update = settings.OTPSITE_STAFF_CONSOLE_CSP_UPDATE
        return response


class StaleSessionMiddleware(SessionMiddleware):
    """Django's session middleware, except that a request whose session another request deleted meanwhile
    (a parallel sign-in that cycled the session key, a sign-out) ends with no session instead of Django's
    400 SessionInterrupted. Its changes are dropped, not saved under a new key: the session they belonged
    to is gone, and bringing it back would undo the sign-out."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except SessionInterrupted:
            response.delete_cookie(
                settings.SESSION_COOKIE_NAME,
                path=settings.SESSION_COOKIE_PATH,
                domain=settings.SESSION_COOKIE_DOMAIN,
                samesite=settings.SESSION_COOKIE_SAMESITE,
            )
            return response
