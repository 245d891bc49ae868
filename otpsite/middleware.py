import re
import uuid

# A caller may pass its own X-Request-ID to correlate logs; anything that is not a plain token is replaced
# so that it cannot inject into logs or headers.
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class RequestIdMiddleware:
    """Gives every request an id (kept on audit events) and echoes it as X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request.request_id = offered if _ACCEPTED_REQUEST_ID.match(offered) else str(uuid.uuid4())
        response = self.get_response(request)
        response.headers.setdefault("X-Request-ID", request.request_id)
        return response
