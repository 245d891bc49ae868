from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse


class ApiKeyBearerScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.ApiKeyBearerAuthentication"
    name = "ApiKeyBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An otpsite API key, `<key id>.<secret>`, as shown once when the key was made.",
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
