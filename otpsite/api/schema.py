import copy

from django.conf import settings
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from otpsite.api.errors import ErrorDetail, ErrorKind


class ApiKeyBearerScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.ApiKeyBearerAuthentication"
    name = "ApiKeyBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An otpsite API key, `<key id>.<secret>`, as shown once when the key was made.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    """Replaces drf-spectacular's own cookieAuth to say who has the cookie and that CSRF applies."""

    target_class = "rest_framework.authentication.SessionAuthentication"
    name = "cookieAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The session of a staff user signed in to the admin (the browsable API). A POST, PUT, "
            "PATCH or DELETE also needs the CSRF token in the X-CSRFToken header, else 403.",
        }


class ApiKeyBasicScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.ApiKeyBasicAuthentication"
    name = "ApiKeyBasic"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "User name: the API key id. Password: its secret."}


class ApiKeyMd5BasicScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.ApiKeyMd5BasicAuthentication"
    name = "CapillaryBasic"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "User name: the API key id. Password: the MD5 hex digest of the key's secret, as "
            "Capillary clients send till passwords.",
        }


class SelfAdminJwtScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.SelfAdminJwtAuthentication"
    name = "SelfAdminXToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Token",
            "description": "nevisIDM self-admin: an HS256 JWT with `sub` the user's and `client` the client's "
            "external id, and `exp`. Allowed only on GET, replace and DELETE of the user's own OTP credential.",
        }


def document_paths_without_trailing_slash(result, generator, request, public):
    """Routes accept an optional trailing slash; the schema shows each path as its vendor documents it."""
    paths = result["paths"]
    result["paths"] = {(path.rstrip("/") or "/"): operations for path, operations in paths.items()}
    return result


def error_responses(serializer, entries) -> dict:
    """The schema's error responses of one operation, grouped by HTTP status: `entries` are
    (HTTP status, how the surface names the error) pairs taken from the surface's one error table."""
    by_status: dict[int, list[str]] = {}
    for status, label in entries:
        by_status.setdefault(status, []).append(label)
    return {status: OpenApiResponse(serializer, description="; ".join(labels)) for status, labels in by_status.items()}


class CapillaryOAuthTokenScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.CapillaryOAuthTokenAuthentication"
    name = "CapillaryOAuthToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-CAP-API-OAUTH-TOKEN",
            "description": "Capillary OAuth: the `accessToken` answered by `POST /v3/oauth/token/generate`, "
            "where `key` is an otpsite API key id and `secret` its secret (an API key doubles as the OAuth "
            "client). An HS256 JWT valid for OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS (300 by default); refused "
            "once expired, and at once when its API key is revoked, expires or gets a new secret.",
        }


class StrictInputSerializerExtension(OpenApiSerializerExtension):
    """A StrictInputSerializer refuses properties it does not declare; the schema says so."""

    target_class = "otpsite.api.serializers.StrictInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


class DocumentedPatternExtension(OpenApiSerializerFieldExtension):
    target_class = "otpsite.api.fields.DocumentedPatternCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": self.target.schema_pattern}


RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait before trying again."}
}


class SurfaceAutoSchema(AutoSchema):
    """The schema as the surfaces answer:

    - a response is the object the view returns: list operations answer an envelope object (documented by
      its own serializer), never a bare array;
    - no `?format=` parameter (the surfaces choose the format by Accept alone);
    - a nested list's allow_empty and max_length become minItems and maxItems;
    - every operation documents the errors any request can meet, in its surface's envelope: 400 (an
      unreadable path, query or header), 401, 403, 413 (a body over the limit), 429 and 503 (with
      Retry-After), besides those its view names.
    """

    def _is_list_view(self, serializer=None) -> bool:
        # Asked with a serializer, it decides whether a response is wrapped in an array: never here. Asked
        # without one, it only names the operation (`..._list`).
        return False if serializer is not None else super()._is_list_view()

    def _get_format_parameters(self):
        return []

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.ListSerializer) and schema and schema.get("type") == "array":
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1, field.min_length or 0)
            elif field.min_length:
                schema["minItems"] = field.min_length
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and self._body_has_required_fields():
            body["required"] = True
        return body

    def _body_has_required_fields(self) -> bool:
        request = self.get_request_serializer()
        candidates = [force_instance(item) for item in (request.values() if isinstance(request, dict) else [request])]
        return any(
            isinstance(candidate, serializers.Serializer) and any(field.required for field in candidate.fields.values())
            for candidate in candidates
        )

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        envelope = getattr(self.view, "error_envelope", None)
        documented = next((response for code, response in responses.items() if code.startswith("4")), None)
        if envelope is None or documented is None or "content" not in documented:
            return responses
        kinds = [ErrorKind.INVALID, ErrorKind.NOT_AUTHENTICATED, ErrorKind.PERMISSION_DENIED, ErrorKind.THROTTLED]
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            kinds.append(ErrorKind.TOO_LARGE)
        kinds.append(ErrorKind.UNAVAILABLE)
        for kind in kinds:
            status_code, body = envelope.render(ErrorDetail(kind, ""))
            code = str(status_code)
            if code not in responses:
                responses[code] = {
                    "content": copy.deepcopy(documented["content"]),
                    "description": _describe(kind, body),
                }
            if kind in (ErrorKind.THROTTLED, ErrorKind.UNAVAILABLE):
                responses[code].setdefault("headers", {}).update(RETRY_AFTER)
        return dict(sorted(responses.items()))


KIND_DESCRIPTIONS = {
    ErrorKind.INVALID: "A path segment, query string or header that no valid request has (a NUL, text that is "
    "not UTF-8), or a body that is not valid.",
    ErrorKind.NOT_AUTHENTICATED: "No credentials, or ones that are unknown, expired or revoked.",
    ErrorKind.PERMISSION_DENIED: "The credentials lack the permission this operation needs.",
    ErrorKind.THROTTLED: "Too many requests; Retry-After says when to try again.",
    ErrorKind.TOO_LARGE: "The body is larger than the server reads (OTPSITE_MAX_BODY_BYTES).",
    ErrorKind.UNAVAILABLE: "The database cannot be reached just now; Retry-After says when to try again.",
}


def _describe(kind: ErrorKind, body: dict) -> str:
    import json

    return f"{KIND_DESCRIPTIONS[kind]} Body: `{json.dumps(body)}`"


def document_client_limits(result, generator, request, public):
    """Every authenticated operation can answer 429 (otpsite/limits.py: failed authentications per address,
    requests per API key), in the same envelope as its 401 and with Retry-After."""
    for operations in result["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            unauthenticated = responses.get("401")
            if unauthenticated is None:
                continue
            limited = responses.setdefault("429", {"content": unauthenticated.get("content", {})})
            limited["description"] = "; ".join(
                part
                for part in (
                    limited.get("description", ""),
                    "client limit: too many failed authentications from this address, or too many requests "
                    "with this API key in a minute",
                )
                if part
            )
            limited.setdefault("headers", {}).setdefault("Retry-After", RETRY_AFTER["Retry-After"])
    return result
