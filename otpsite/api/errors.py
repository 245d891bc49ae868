"""One exception handler for every surface; each surface plugs in the envelope its vendor documents.

The handler sorts every failure into an ErrorKind, and the view's `error_envelope` turns the kind into the
vendor's status code and body. A view without an envelope (the schema views) keeps DRF's default body.
An unexpected exception is logged with its traceback and answered 500 in the surface's envelope, so that
even then a client gets the body its vendor documents.
"""

import abc
import dataclasses
import enum
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from otpsite.api.parsers import RequestTooLarge

logger = logging.getLogger("otpsite.api")


class ErrorKind(enum.StrEnum):
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    THROTTLED = "throttled"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"
    SURFACE = "surface"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class ErrorDetail:
    """What the envelope gets to render: the kind, a plain-language message and, for bad input, the
    fields at fault with their messages (already in wire names where the surface maps them)."""

    kind: ErrorKind
    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    surface_code: object = None
    request_id: str = ""


class ErrorEnvelope(abc.ABC):
    """A surface's error body. `wire_field_names` maps model field names (as services name them in their
    ValidationErrors) to the surface's wire names."""

    wire_field_names: dict[str, str] = {}

    @abc.abstractmethod
    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        """The HTTP status and body for this error."""


class SurfaceError(exceptions.APIException):
    """An error a surface documents by its own code (Capillary's 9001, say): raised by the surface's view,
    answered with the status its envelope's table gives that code. `wait` becomes Retry-After."""

    def __init__(self, surface_code, message: str = "", *, wait: int | None = None):
        super().__init__(detail=message or str(surface_code))
        self.surface_code = surface_code
        self.wait = wait


class ServiceUnavailable(exceptions.APIException):
    """The database cannot be reached: 503 with Retry-After, in the surface's envelope."""

    status_code = 503
    default_detail = "The service is briefly unavailable; try again later."
    default_code = "unavailable"

    def __init__(self):
        super().__init__()
        self.wait = settings.OTPSITE_UNAVAILABLE_RETRY_AFTER


# Errors that say the database is down or unreachable, not that the request was wrong.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _flatten(value)]
    return [str(detail)]


def _field_messages(detail, wire_names: dict[str, str]) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            ("body" if name in ("non_field_errors", "__all__") else wire_names.get(name, name)): _flatten(value)
            for name, value in detail.items()
        }
    return {"body": _flatten(detail)}


def _specific(exc: exceptions.APIException) -> str:
    """The exception's own message, or "" when it only repeats DRF's generic one (the envelope's message
    then stands alone, so that a missing object reads exactly like another tenant's)."""
    detail = str(exc.detail)
    return "" if detail == str(exc.default_detail) else detail


def _classify(exc: exceptions.APIException, wire_names: dict[str, str]) -> ErrorDetail:
    if isinstance(exc, SurfaceError):
        detail = str(exc.detail)
        return ErrorDetail(
            ErrorKind.SURFACE, "" if detail == str(exc.surface_code) else detail, surface_code=exc.surface_code
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return ErrorDetail(ErrorKind.NOT_AUTHENTICATED, _specific(exc))
    if isinstance(exc, exceptions.PermissionDenied):
        return ErrorDetail(ErrorKind.PERMISSION_DENIED, _specific(exc))
    if isinstance(exc, exceptions.NotFound):
        return ErrorDetail(ErrorKind.NOT_FOUND, _specific(exc))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ErrorDetail(ErrorKind.METHOD_NOT_ALLOWED, str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return ErrorDetail(ErrorKind.THROTTLED, str(exc.detail))
    if isinstance(exc, RequestTooLarge):
        return ErrorDetail(ErrorKind.TOO_LARGE, str(exc.detail))
    if isinstance(exc, ServiceUnavailable):
        return ErrorDetail(ErrorKind.UNAVAILABLE, "")
    if isinstance(exc, exceptions.ParseError):
        return ErrorDetail(ErrorKind.INVALID, str(exc.detail), {"body": [str(exc.detail)]})
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return ErrorDetail(ErrorKind.INVALID, str(exc.detail), {"Content-Type": [str(exc.detail)]})
    if isinstance(exc, exceptions.NotAcceptable):
        return ErrorDetail(ErrorKind.INVALID, str(exc.detail), {"Accept": [str(exc.detail)]})
    fields = _field_messages(exc.detail, wire_names)
    return ErrorDetail(ErrorKind.INVALID, "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()), fields)


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, RequestDataTooBig):  # Django's own check, when DRF reads a JSON body through request.body
        exc = RequestTooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("Database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        exc = ServiceUnavailable()
    response = drf_exception_handler(exc, context)
    envelope: ErrorEnvelope | None = getattr(context.get("view"), "error_envelope", None)
    if envelope is None:
        return response
    request_id = getattr(context.get("request"), "request_id", "")
    if response is None:
        logger.error("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        status_code, body = envelope.render(ErrorDetail(ErrorKind.SERVER_ERROR, "", request_id=request_id))
        return Response(body, status=status_code)
    if not isinstance(exc, exceptions.APIException):
        # Django's Http404 and PermissionDenied, which drf_exception_handler has answered as 404 and 403.
        exc = exceptions.NotFound() if response.status_code == 404 else exceptions.PermissionDenied()
    detail = dataclasses.replace(_classify(exc, envelope.wire_field_names), request_id=request_id)
    status_code, body = envelope.render(detail)
    response.status_code = status_code
    response.data = body
    return response


def surface_error_response(request, kind: ErrorKind) -> JsonResponse | None:
    """The envelope of the surface this path belongs to, for a failure Django answers outside the view (a
    response that could not be rendered, a session store that failed); None for a path of no surface."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    envelope: ErrorEnvelope | None = getattr(getattr(match.func, "cls", None), "error_envelope", None)
    if envelope is None:
        return None
    message = "The request is not valid." if kind == ErrorKind.INVALID else ""
    status_code, body = envelope.render(ErrorDetail(kind, message, request_id=getattr(request, "request_id", "")))
    response = JsonResponse(body, status=status_code)
    if kind == ErrorKind.UNAVAILABLE:
        response["Retry-After"] = str(settings.OTPSITE_UNAVAILABLE_RETRY_AFTER)
    return response
