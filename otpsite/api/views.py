"""The base of every surface's viewset: what all four vendors' endpoints share before their own code runs."""

import json
from urllib.parse import unquote_to_bytes

from django.http.request import RawPostDataException
from rest_framework import viewsets
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation

from otpsite.api.parsers import check_text, text_problem
from otpusers.prepared import ReadAhead


class AcceptOnlyNegotiation(DefaultContentNegotiation):
    """The response format comes from Accept alone, as the vendors document: `?format=` is not a switch
    here but an ordinary query parameter (ignored like any other the operation does not name)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return super().select_renderer(request, renderers, format_suffix=format_suffix or None)


AcceptOnlyNegotiation.settings = type("NoFormatOverride", (), {"URL_FORMAT_OVERRIDE": None})()


def refuse_unreadable_request(request, path_arguments: dict) -> None:
    """400 for a request part that no valid request has and that could not be stored or compared safely:
    a NUL anywhere in the path, query string or headers, or a query string that is not UTF-8. Checked
    before authentication, so that nothing reaches a query or the audit trail."""
    for name, value in path_arguments.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError({name: ["The path holds a NUL character."]})
    raw_query = request.META.get("QUERY_STRING", "")
    if raw_query:
        try:
            query = unquote_to_bytes(raw_query.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"query": ["The query string is not valid UTF-8."]}) from None
        if "\x00" in query:
            raise ValidationError({"query": ["The query string holds a NUL character."]})
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            header = key[5:].replace("_", "-").title()
            raise ValidationError({header: ["The header holds a NUL character."]})


class SurfaceRequestMixin:
    """For every view of a surface: the checks above before anything else, and Accept-only negotiation."""

    content_negotiation_class = AcceptOnlyNegotiation

    def initial(self, request, *args, **kwargs):
        refuse_unreadable_request(request, kwargs)
        super().initial(request, *args, **kwargs)


class SurfaceViewSet(SurfaceRequestMixin, viewsets.GenericViewSet):
    # The read made ahead for this request (read_ahead), once authentication made it; None otherwise.
    ahead: ReadAhead | None = None

    def initial(self, request, *args, **kwargs):
        self.ahead = None
        self._validated_ahead = None
        request._request.read_ahead = self._read_ahead
        super().initial(request, *args, **kwargs)

    def _read_ahead(self, organization_id: int) -> ReadAhead | None:
        self.ahead = self.read_ahead(organization_id)
        return self.ahead

    def validated_ahead(self, serializer_class, data) -> dict | None:
        """For read_ahead: `data` (the raw body or the query parameters) validated by `serializer_class`, or
        None when it is not valid; kept for the action's `validated` of the same data."""
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            return None
        self._validated_ahead = (serializer_class, data, serializer.validated_data)
        return serializer.validated_data

    def validated(self, serializer_class, data) -> dict:
        """`data` validated by `serializer_class`, raising its errors; validated once when read_ahead did it
        for the same data."""
        if self._validated_ahead is not None:
            validated_class, raw, validated = self._validated_ahead
            if validated_class is serializer_class and (raw is data or raw == data):
                return validated
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def read_ahead(self, organization_id: int) -> ReadAhead | None:
        """The first read the action's service will make for an API key of `organization_id`, when the request
        tells it before it is authenticated; it rides in the client limits' statement (otpsite.limits), one
        statement fewer. A guess from the raw request: the action validates its input as usual and passes
        `self.ahead` on, and the service uses the row only for the inputs it was read for. None: no read."""
        return None


# What a read ahead takes from a body: a small JSON object (larger ones are left to the action).
READ_AHEAD_MAX_BODY = 4096


def json_object_ahead(request) -> dict | None:
    """The request's body as a JSON object when it plainly is one, for a read ahead; None whenever it is not
    (the action's own parsing answers that), and whenever a string in it could not be sent to the database."""
    django_request = getattr(request, "_request", request)
    if django_request.content_type != "application/json":
        return None
    try:
        if not 0 < int(django_request.META.get("CONTENT_LENGTH") or 0) <= READ_AHEAD_MAX_BODY:
            return None
        body = json.loads(django_request.body)
    except (ValueError, RawPostDataException):
        return None
    if not isinstance(body, dict):
        return None
    try:
        check_text(body)
    except ParseError:
        return None
    return body


def storable(value: str) -> bool:
    """Whether a string can be a query parameter (the body parsers' rule: no NUL, no lone surrogate)."""
    return text_problem(value) is None
