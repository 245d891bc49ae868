"""The manage surface's envelope and its one error table.

Every response, errors included, carries `errors[]`, `warnings[]` and `apiRequestId` (the request's UUID,
also sent as X-Request-ID). Codes follow myKaarma's house pattern: 100xxx for client errors, 200xxx for
server errors. myKaarma does not publish kmanage's own table; these are otpsite's.
"""

import enum

from otpsite.api.errors import ErrorDetail, ErrorEnvelope, ErrorKind


class ManageError(enum.Enum):
    # name = (errorCode, HTTP status, errorMessage)
    BAD_REQUEST = (100001, 400, "The request is not valid")
    NOT_FOUND = (100002, 404, "No active user has this user name and phone number")
    INVALID_AUTH = (100003, 401, "Missing or invalid credentials")
    UNAUTHORIZED = (100004, 403, "The credentials do not hold the scope this API needs")
    OTP_INVALID = (100006, 400, "The OTP is not valid for this user")
    METHOD_NOT_ALLOWED = (100007, 405, "Method not allowed")
    RATE_LIMITED = (100009, 429, "Too many OTPs sent to this user; try again later")
    TOO_LARGE = (100010, 413, "The request body is too large")
    INTERNAL_ERROR = (200001, 500, "Internal error")
    DOWNSTREAM_FAIL = (200002, 503, "The OTP could not be delivered")
    UNAVAILABLE = (200003, 503, "The service is briefly unavailable; try again later")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


KIND_ERRORS = {
    ErrorKind.NOT_AUTHENTICATED: ManageError.INVALID_AUTH,
    ErrorKind.PERMISSION_DENIED: ManageError.UNAUTHORIZED,
    ErrorKind.NOT_FOUND: ManageError.NOT_FOUND,
    ErrorKind.METHOD_NOT_ALLOWED: ManageError.METHOD_NOT_ALLOWED,
    ErrorKind.THROTTLED: ManageError.RATE_LIMITED,
    ErrorKind.TOO_LARGE: ManageError.TOO_LARGE,
    ErrorKind.UNAVAILABLE: ManageError.UNAVAILABLE,
    ErrorKind.SERVER_ERROR: ManageError.INTERNAL_ERROR,
}


def envelope(request_id: str, errors: list[dict] | None = None, **payload) -> dict:
    return {"errors": errors or [], "warnings": [], "apiRequestId": request_id, **payload}


def error_item(error: ManageError, detail: str = "") -> dict:
    return {
        "errorCode": error.code,
        "errorTitle": error.name,
        "errorMessage": f"{error.message}: {detail}" if detail else error.message,
    }


class ManageErrorEnvelope(ErrorEnvelope):
    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        if error.kind == ErrorKind.INVALID:
            items = [
                error_item(ManageError.BAD_REQUEST, f"{name}: {' '.join(messages)}")
                for name, messages in error.fields.items()
            ] or [error_item(ManageError.BAD_REQUEST, error.message)]
            return 400, envelope(error.request_id, items)
        manage_error = error.surface_code if error.kind == ErrorKind.SURFACE else KIND_ERRORS[error.kind]
        return manage_error.http_status, envelope(error.request_id, [error_item(manage_error, error.message)])


ENVELOPE = ManageErrorEnvelope()
