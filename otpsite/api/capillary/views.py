from datetime import UTC

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.response import Response

from credentials import delivery, services
from credentials.choices import Channel, VerifyOutcome
from otpsite.api.authentication import ApiKeyMd5BasicAuthentication
from otpsite.api.capillary import errors, serializers
from otpsite.api.errors import SurfaceError
from otpsite.api.schema import error_responses
from otpusers.audit import Actor
from otpusers.models import Organization


def _error_responses(*codes: int) -> dict:
    return error_responses(
        serializers.CapillaryErrorSerializer,
        ((errors.ERROR_CODES[code][0], f"`{code}` {errors.ERROR_CODES[code][1]}") for code in codes),
    )


COMMON_ERRORS = (401, 403, 405)


def _destinations(channels: list[dict]) -> list[services.Destination]:
    destinations = []
    for channel in channels:
        address = channel.get("value", "").strip()
        if channel["type"] in ("SMS", "BOTH"):
            destinations.append(services.Destination(Channel.SMS, "" if channel["type"] == "BOTH" else address))
        if channel["type"] in ("EMAIL", "BOTH"):
            destinations.append(services.Destination(Channel.EMAIL, "" if channel["type"] == "BOTH" else address))
    return destinations


class CapillaryOtpViewSet(viewsets.GenericViewSet):
    """Capillary's v2 OTP endpoints. The organization is the API key's; `orgId` and `userId` are the
    organization's and the person's integer ids."""

    authentication_classes = [ApiKeyMd5BasicAuthentication]
    error_envelope = errors.ENVELOPE
    required_api_permissions = {
        "get_otp": "capillary.otp.read",
        "generate": "capillary.otp.write",
        "validate": "capillary.otp.write",
    }

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    @extend_schema(
        operation_id="capillary_get_otp",
        summary="Get OTP",
        description="The most recent code issued to the customer for the scope that is still valid, issued "
        "within `threshold` seconds when given. Needs the organization's code read-back switched on; every "
        "call is audited. `source` and `accountId` are recorded in the audit log; codes are not kept per "
        "source. A customer the organization does not have answers 9001 like one with no code.",
        parameters=[serializers.GetOtpQuerySerializer],
        responses={
            200: serializers.GetOtpResponseSerializer,
            **_error_responses(400, 9001, 9002, *COMMON_ERRORS),
        },
    )
    def get_otp(self, request):
        query = serializers.GetOtpQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            issued, code = services.code_read_back(
                organization=self.organization,
                identifier_type=params["identifierName"],
                identifier_value=params["identifierValue"],
                scope=params["scope"],
                threshold_seconds=params.get("threshold"),
                source=params["source"],
                account_id=params.get("accountId", ""),
                actor=Actor.from_request(request),
            )
        except services.ReadBackDisabled:
            raise SurfaceError(9002) from None
        except services.NoValidCode:
            raise SurfaceError(9001) from None
        return Response(
            {
                "orgId": issued.organization_id,
                "userId": issued.otp_user_id,
                "code": code,
                "validUpto": issued.valid_until.astimezone(UTC).isoformat(timespec="seconds"),
                "warnings": [],
            }
        )

    @extend_schema(
        operation_id="capillary_generate_otp",
        summary="Generate OTP",
        description="Issues a code to the customer with this mobile or email and sends it on each channel. "
        "A new code supersedes the customer's outstanding one for the action, except that a still valid code "
        "is sent again (and `createdId` is 1) where the organization keeps codes readable. Limits: the "
        "organization's daily issue limit per person (429, with Retry-After) and resend cooldown (429).",
        request=serializers.GenerateOtpSerializer,
        responses={
            200: serializers.GenerateOtpResponseSerializer,
            **_error_responses(400, 600, 601, 602, 603, 429, 606, *COMMON_ERRORS),
        },
    )
    def generate(self, request):
        body = serializers.GenerateOtpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        email_template = data.get("emailTemplate", {})
        try:
            result = services.code_issue(
                organization=self.organization,
                identifier_type=serializers.ENTITY_TYPES[data["entityType"]],
                identifier_value=data["entityValue"].strip(),
                scope=data["action"],
                destinations=_destinations(data["channels"]),
                templates=delivery.Templates(
                    sms=data.get("template", ""),
                    email_subject=email_template.get("subject", ""),
                    email_body=email_template.get("body", ""),
                ),
                resend_outstanding=True,
                actor=Actor.from_request(request),
            )
        except services.RecipientUnknown:
            raise SurfaceError(602, "no customer with this entity value") from None
        except services.DestinationMissing as error:
            raise SurfaceError(603, str(error)) from None
        except services.IssueRefused as error:
            raise SurfaceError(429, str(error), wait=error.retry_after) from None
        except services.DeliveryFailed:
            raise SurfaceError(606, "the code could not be delivered") from None
        return Response({"createdId": 1 if result.resent else result.code.pk, "warnings": []})

    @extend_schema(
        operation_id="capillary_validate_otp",
        summary="Validate OTP",
        description="Answers `entity: true` when the code is right (and uses it), and `entity: false`, with "
        "the same status and body, for a wrong, expired, used, locked or superseded code and for an unknown "
        "customer; the reason is in the audit log. A code locks after the organization's attempts per code.",
        request=serializers.ValidateOtpSerializer,
        responses={
            200: serializers.ValidateOtpResponseSerializer,
            **_error_responses(400, 600, 601, 602, 604, *COMMON_ERRORS),
        },
    )
    def validate(self, request):
        body = serializers.ValidateOtpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = services.code_verify(
            organization=self.organization,
            identifier_type=serializers.ENTITY_TYPES[data["entityType"]],
            identifier_value=data["entityValue"].strip(),
            scope=data["action"],
            code=data["code"],
            actor=Actor.from_request(request),
        )
        return Response({"entity": outcome == VerifyOutcome.SUCCESS, "warnings": []})
