"""What Django answers for failures outside a surface's own exception handling (handler400, handler500).

A path that belongs to an API surface still gets that surface's envelope; a database that cannot be reached
answers 503 with Retry-After (the envelope's 503 on the API, a friendly page elsewhere) instead of a 500."""

import sys

from django.conf import settings
from django.shortcuts import render
from django.views import defaults

from otpsite.api.errors import DATABASE_UNAVAILABLE, ErrorKind, surface_error_response


def _database_unavailable() -> bool:
    return isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE)


def bad_request(request, exception=None):
    return surface_error_response(request, ErrorKind.INVALID) or defaults.bad_request(request, exception)


def server_error(request):
    kind = ErrorKind.UNAVAILABLE if _database_unavailable() else ErrorKind.SERVER_ERROR
    response = surface_error_response(request, kind)
    if response is not None:
        return response
    if kind != ErrorKind.UNAVAILABLE:
        return defaults.server_error(request)
    retry_after = settings.OTPSITE_UNAVAILABLE_RETRY_AFTER
    response = render(request, "503.html", {"retry_after": retry_after}, status=503)
    response["Retry-After"] = str(retry_after)
    return response
