"""The base of every surface's viewset: what all four vendors' endpoints share before their own code runs."""

from urllib.parse import unquote_to_bytes

from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


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
    pass
