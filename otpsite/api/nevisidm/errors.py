"""nevisIDM's error body, `{"errors": [{"code": "errors.…", "message": "…"}]}`, and its one table.

nevisIDM documents the code names (errors.noRecord, errors.tooManyOTPCards, …) and the statuses 403, 404,
422 and 423, but not every pairing; the ones below are otpsite's decision. A stale `version` answers 409
errors.pessimisticLockingFailure, the documented name for a locking conflict.
"""

from otpsite.api.errors import ErrorDetail, ErrorEnvelope, ErrorKind

ERRORS: dict[str, tuple[int, str]] = {
    "errors.invalidData": (400, "The request is not valid"),
    "errors.notAuthenticated": (401, "Missing or invalid credentials"),
    "errors.permissionDenied": (403, "Permission denied"),
    "errors.credentialNotActive": (403, "The credential is not active or not within its validity"),
    "errors.noRecord": (404, "No such record"),
    "errors.methodNotAllowed": (405, "Method not allowed"),
    "errors.pessimisticLockingFailure": (409, "The record was changed since it was read; read it again"),
    "errors.tooManyOTPCards": (422, "The user already has the most OTP cards allowed (2)"),
    "errors.duplicateValue": (422, "Another record has this value"),
    "errors.missingReferenceData": (422, "A referenced record does not exist"),
    "errors.policyViolation": (422, "The change is not allowed"),
    "errors.credentialLocked": (423, "The credential is locked"),
    "errors.payloadTooLarge": (413, "The request body is too large"),
    "errors.tooManyRequests": (429, "Too many requests"),
    "errors.fatalError": (500, "Internal error"),
    "errors.serviceUnavailable": (503, "The service is briefly unavailable; try again later"),
}

KIND_CODES = {
    ErrorKind.NOT_AUTHENTICATED: "errors.notAuthenticated",
    ErrorKind.PERMISSION_DENIED: "errors.permissionDenied",
    ErrorKind.NOT_FOUND: "errors.noRecord",
    ErrorKind.METHOD_NOT_ALLOWED: "errors.methodNotAllowed",
    ErrorKind.THROTTLED: "errors.tooManyRequests",
    ErrorKind.TOO_LARGE: "errors.payloadTooLarge",
    ErrorKind.UNAVAILABLE: "errors.serviceUnavailable",
    ErrorKind.SERVER_ERROR: "errors.fatalError",
}

# The login's statusCode (HTTP 200 either way, as nevisIDM answers): 0 is success, 2 and up are failures.
LOGIN_STATUS = {
    "success": (0, "Login successful."),
    "wrong_answer": (2, "Login failed: the password is not the card's answer to the challenge."),
    "no_challenge": (3, "Login failed: no challenge of this card is waiting for this answer."),
}


def error_item(code: str, detail: str = "") -> dict:
    return {"code": code, "message": f"{ERRORS[code][1]}: {detail}" if detail else ERRORS[code][1]}


class NevisErrorEnvelope(ErrorEnvelope):
    wire_field_names = {
        "state": "stateName",
        "valid_from": "validity",
        "valid_to": "validity",
        "ext_id": "extId",
        "__all__": "body",
    }

    def render(self, error: ErrorDetail) -> tuple[int, dict]:
        if error.kind == ErrorKind.INVALID:
            items = [
                error_item("errors.invalidData", f"{name}: {' '.join(messages)}")
                for name, messages in error.fields.items()
            ] or [error_item("errors.invalidData", error.message)]
            return 400, {"errors": items}
        code = error.surface_code if error.kind == ErrorKind.SURFACE else KIND_CODES[error.kind]
        return ERRORS[code][0], {"errors": [error_item(code, error.message)]}


ENVELOPE = NevisErrorEnvelope()
