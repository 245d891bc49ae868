import uuid

from django.conf import settings
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware


def _offered_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class RequestIdMiddleware:
    """Gives every request an id (kept on audit events) and echoes it as X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A caller may pass its own UUID to correlate logs; anything else is replaced, so that request ids
        # are always UUIDs (the manage surface's apiRequestId) and cannot inject into logs or headers.
        request.request_id = _offered_uuid(request.headers.get("X-Request-ID", "")) or str(uuid.uuid4())
        response = self.get_response(request)
        response.headers.setdefault("X-Request-ID", request.request_id)
        return response


class PermissionsPolicyMiddleware:
    """Sends OTPSITE_PERMISSIONS_POLICY as the Permissions-Policy header on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.OTPSITE_PERMISSIONS_POLICY)
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
