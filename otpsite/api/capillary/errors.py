"""Capillary's v2 error envelope, `{"errors": [{"status": false, "code": N, "message": "..."}]}`, and the
one table of every code otpsite answers with the HTTP status it goes with.

Capillary documents the codes and messages but not the HTTP status of each; the statuses below are
otpsite's decision and are stated in the OpenAPI schema. 400, 401, 403, 405, 413, 429 and 503 used as codes
mirror the HTTP status Capillary's docs give those situations (400 also for an invalid attribution header,
1061 for a lookup without its type, as Capillary's global table says); 9002 is otpsite's own (read-back
switched off).
Bad input names one code per field at fault, so a body with a bad action and a bad entity value answers
both 600 and 602, as Capillary's sample does.
"""

from otpsite.api.errors import ErrorDetail, ErrorEnvelope, ErrorKind

ERROR_CODES: dict[int, tuple[int, str]] = {
    400: (400, "Invalid input"),
    401: (401, "Authentication failed"),
    403: (403, "Permission denied"),
    404: (404, "Not found"),
    405: (405, "Method not allowed"),
    413: (413, "Request body too large"),
    429: (429, "Rate limit exceeded"),
    500: (500, "Internal error"),
    503: (503, "Service unavailable"),
    600: (400, "Invalid or Null action passed"),
    601: (400, "Invalid or Null entity type passed"),
    602: (400, "Invalid or Null entity value passed"),
    603: (400, "Invalid or Null communication channel value passed"),
    604: (400, "No OTP passed"),
    606: (503, "Unable to generate OTP at the moment"),
    607: (400, "Mandatory template name not passed for whatsapp type channel"),
    621: (400, "Zalo template identifier cannot be empty"),
    608: (400, "Something went wrong while fetching otp template"),
    1061: (400, "X-CAP-API-ATTRIBUTION-LOOKUP-TYPE header required with X-CAP-API-ATTRIBUTION-LOOKUP header"),
    9001: (404, "No valid OTP found."),
    9002: (403, "OTP read-back is disabled for this organization"),
}

# Which code a bad field answers with; any other field answers 400.
FIELD_CODES = {
    "action": 600,
    "scope": 600,
    "entityType": 601,
    "identifierName": 601,
    "entityValue": 602,
    "identifierValue": 602,
    "channels": 603,
    "code": 604,
    "template": 608,
    "emailTemplate": 608,
}

KIND_CODES = {
    ErrorKind.NOT_AUTHENTICATED: 401,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.THROTTLED: 429,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.SERVER_ERROR: 500,
}


def error_item(code: int, detail: str = "") -> dict:
    message = ERROR_CODES[code][1]
    return {"status": False, "code": code, "message": f"{message}: {detail}" if detail else message}


class CapillaryErrorEnvelope(ErrorEnvelope):
    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        if error.kind == ErrorKind.INVALID:
            items = [
                error_item(FIELD_CODES.get(name, 400), f"{name}: {' '.join(messages)}")
                for name, messages in error.fields.items()
            ] or [error_item(400, error.message)]
            return 400, {"errors": items}
        code = error.surface_code if error.kind == ErrorKind.SURFACE else KIND_CODES[error.kind]
        return ERROR_CODES[code][0], {"errors": [error_item(code, error.message)]}


ENVELOPE = CapillaryErrorEnvelope()


class CapillaryV3ErrorEnvelope(CapillaryErrorEnvelope):
    """The v3 OAuth endpoint answers `{"data": ..., "errors": null}`; its failures keep that shape, with
    `data` null and `errors` the v2 items (Capillary documents no v3 failure body; otpsite's decision)."""

    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        status, body = super().render(error)
        return status, {"data": None, "errors": body["errors"]}


V3_ENVELOPE = CapillaryV3ErrorEnvelope()
