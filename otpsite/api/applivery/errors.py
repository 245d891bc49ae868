"""Applivery's error envelope and codes.

The OTP-user pages document 404 `3001 Entity not found` and 400 `6001 Database Validation Error`. They
document no 401, 403, 405, 413, 429, 500 or 503 body; otpsite answers those in the same envelope with the codes below
(4002 is the code Applivery's own SDKs read as "token empty or not valid"). For bad input, `error.data`
names each field at fault, in wire names, with a plain-language message.
"""

from otpsite.api.errors import ErrorDetail, ErrorEnvelope, ErrorKind

ERROR_TABLE: dict[ErrorKind, tuple[int, int, str]] = {
    ErrorKind.NOT_AUTHENTICATED: (401, 4002, "Token not valid"),
    ErrorKind.PERMISSION_DENIED: (403, 4003, "Permission denied"),
    ErrorKind.NOT_FOUND: (404, 3001, "Entity not found"),
    ErrorKind.INVALID: (400, 6001, "Database Validation Error"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, 4005, "Method not allowed"),
    ErrorKind.THROTTLED: (429, 4029, "Too many requests"),
    ErrorKind.TOO_LARGE: (413, 4013, "Request body too large"),
    ErrorKind.UNAVAILABLE: (503, 5003, "Service unavailable"),
    ErrorKind.SERVER_ERROR: (500, 5000, "Internal server error"),
}


class AppliveryErrorEnvelope(ErrorEnvelope):
    wire_field_names = {
        "allowed_downloads_num": "allowedDownloadsNum",
        "published_application": "publishedApplicationId",
        "otp_user": "email",
    }

    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        status_code, code, message = ERROR_TABLE[error.kind]
        body: dict = {"code": code, "message": message}
        if error.fields:
            body["data"] = error.fields
        elif error.kind in (ErrorKind.NOT_AUTHENTICATED, ErrorKind.PERMISSION_DENIED) and error.message:
            body["data"] = {"detail": error.message}
        return status_code, {"status": False, "error": body}


ENVELOPE = AppliveryErrorEnvelope()
