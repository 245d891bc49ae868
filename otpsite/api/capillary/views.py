import dataclasses
from datetime import UTC

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import views
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from credentials import delivery, services
from credentials.choices import Surface, VerifyOutcome
from otpsite import limits
from otpsite.api.authentication import ApiKeyMd5BasicAuthentication, CapillaryOAuthTokenAuthentication
from otpsite.api.capillary import errors, serializers
from otpsite.api.errors import SurfaceError
from otpsite.api.schema import error_responses
from otpsite.api.scoping import caller_organization
from otpsite.api.views import SurfaceRequestMixin, SurfaceViewSet, json_object_ahead, storable
from otpsite.middleware import client_ip
from otpusers import services as key_services
from otpusers.audit import Actor
from otpusers.models import Organization


def _error_responses(*codes: int) -> dict:
    return error_responses(
        serializers.CapillaryErrorSerializer,
        ((errors.ERROR_CODES[code][0], f"`{code}` {errors.ERROR_CODES[code][1]}") for code in codes),
    )


COMMON_ERRORS = (401, 403, 405, 1061)

# Capillary's attribution headers (acting on behalf of another till). otpsite has no tills: the request
# acts for the API key's organization either way, the headers are checked as Capillary documents and
# named in the audit trail.
LOOKUP_TYPE, LOOKUP = "X-CAP-API-ATTRIBUTION-LOOKUP-TYPE", "X-CAP-API-ATTRIBUTION-LOOKUP"
ENTITY_TYPE, ENTITY_CODE = "X-CAP-API-ATTRIBUTION-ENTITY-TYPE", "X-CAP-API-ATTRIBUTION-ENTITY-CODE"
LOOKUP_TYPES = ("WECHAT", "MOBILE_TRIGGER")
ENTITY_TYPES = ("TILL", "STORE_CODE", "STORE_NAME", "STORE_EXTERNAL_ID", "STORE_EXTERNAL_ID_1", "STORE_EXTERNAL_ID_2")
MAX_ATTRIBUTION_VALUE = 100
ATTRIBUTION_PARAMETERS = [
    OpenApiParameter(
        LOOKUP_TYPE,
        str,
        OpenApiParameter.HEADER,
        enum=LOOKUP_TYPES,
        description="Capillary's on-behalf lookup type; anything else answers 400. Recorded in the audit trail.",
    ),
    OpenApiParameter(
        LOOKUP,
        str,
        OpenApiParameter.HEADER,
        description=f"The lookup value (at most {MAX_ATTRIBUTION_VALUE} characters); without {LOOKUP_TYPE} it "
        "answers 1061. otpsite has no tills: the request acts for the API key's organization.",
    ),
    OpenApiParameter(
        ENTITY_TYPE,
        str,
        OpenApiParameter.HEADER,
        enum=ENTITY_TYPES,
        description="Capillary's attribution entity type (default TILL); anything else answers 400.",
    ),
    OpenApiParameter(
        ENTITY_CODE,
        str,
        OpenApiParameter.HEADER,
        description=f"The attribution entity's code (at most {MAX_ATTRIBUTION_VALUE} characters); recorded in "
        "the audit trail.",
    ),
]


def _attribution(request) -> str:
    """The attribution headers as the audit trail names them ("" when none), after checking them as
    Capillary's global error table says: a lookup without its type is 1061, an unknown type is 400."""
    headers = {name: request.headers.get(name, "") for name in (LOOKUP_TYPE, LOOKUP, ENTITY_TYPE, ENTITY_CODE)}
    if headers[LOOKUP] and not headers[LOOKUP_TYPE]:
        raise SurfaceError(1061)
    if headers[LOOKUP_TYPE] and headers[LOOKUP_TYPE] not in LOOKUP_TYPES:
        raise SurfaceError(400, f"Invalid {LOOKUP_TYPE} specified; accepted: {', '.join(LOOKUP_TYPES)}")
    if headers[ENTITY_TYPE] and headers[ENTITY_TYPE] not in ENTITY_TYPES:
        raise SurfaceError(400, f"Invalid {ENTITY_TYPE} specified; accepted: {', '.join(ENTITY_TYPES)}")
    for name, value in headers.items():
        if len(value) > MAX_ATTRIBUTION_VALUE:
            raise SurfaceError(400, f"{name} is longer than {MAX_ATTRIBUTION_VALUE} characters")
    given = {name.removeprefix("X-CAP-API-ATTRIBUTION-"): value for name, value in headers.items() if value}
    return ", ".join(f"{name}={value}" for name, value in given.items())


def _destinations(channels: list[dict]) -> list[services.Destination]:
    """Where each channel sends: its value, or the person's own address (always for BOTH)."""
    destinations = []
    for channel in channels:
        address = "" if channel["type"] == "BOTH" else channel.get("value", "").strip()
        destinations += [
            services.Destination(sent_on, address) for sent_on in serializers.CHANNEL_TYPES[channel["type"]]
        ]
    return destinations


class CapillaryOtpViewSet(SurfaceViewSet):
    """Capillary's v2 OTP endpoints. The organization is the API key's; `orgId` and `userId` are the
    organization's and the person's integer ids."""

    # Session last: the first class gives the 401 challenge; staff signed in to the admin browse with CSRF.
    authentication_classes = [ApiKeyMd5BasicAuthentication, CapillaryOAuthTokenAuthentication, SessionAuthentication]
    error_envelope = errors.ENVELOPE
    required_api_permissions = {
        "get_otp": "capillary.otp.read",
        "generate": "capillary.otp.write",
        "validate": "capillary.otp.write",
    }

    def get_serializer_class(self):
        """The request body of the action, for the browsable API's form."""
        return {"generate": serializers.GenerateOtpSerializer, "validate": serializers.ValidateOtpSerializer}.get(
            getattr(self, "action", None), serializers.GetOtpQuerySerializer
        )

    @property
    def organization(self) -> Organization:
        return caller_organization(self.request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.attribution = _attribution(request)

    def read_ahead(self, organization_id: int):
        """Get OTP's read of the code, from query parameters that validate; validate's read of the person and
        their code, from a body that validates."""
        if self.action == "get_otp":
            params = self.validated_ahead(serializers.GetOtpQuerySerializer, self.request.query_params)
            if params is None or not storable(params["identifierValue"]):
                return None
            return services.code_read_back_ahead(
                organization_id=organization_id,
                identifier_type=params["identifierName"],
                identifier_value=params["identifierValue"],
                scope=params["scope"],
                threshold_seconds=params.get("threshold"),
            )
        if self.action != "validate":
            return None
        data = self.validated_ahead(serializers.ValidateOtpSerializer, json_object_ahead(self.request))
        if data is None:
            return None
        return services.code_check_ahead(
            organization_id=organization_id,
            identifier_type=serializers.ENTITY_TYPES[data["entityType"]],
            identifier_value=data["entityValue"].strip(),
            scope=data["action"],
        )

    def actor(self) -> Actor:
        actor = Actor.from_request(self.request)
        if not self.attribution:
            return actor
        return dataclasses.replace(actor, label=f"{actor.label} [{self.attribution}]")

    @extend_schema(
        operation_id="capillary_get_otp",
        summary="Get OTP",
        description="The most recent code issued to the customer for the scope that is still valid, issued "
        "within `threshold` seconds when given. Needs the organization's code read-back switched on; every "
        "call is audited. `source` and `accountId` are recorded in the audit log; codes are not kept per "
        "source. A customer the organization does not have answers 9001 like one with no code.",
        parameters=[serializers.GetOtpQuerySerializer, *ATTRIBUTION_PARAMETERS],
        responses={
            200: serializers.GetOtpResponseSerializer,
            **_error_responses(400, 9001, 9002, *COMMON_ERRORS),
        },
    )
    def get_otp(self, request):
        params = self.validated(serializers.GetOtpQuerySerializer, request.query_params)
        try:
            issued, code = services.code_read_back(
                organization=self.organization,
                identifier_type=params["identifierName"],
                identifier_value=params["identifierValue"],
                scope=params["scope"],
                threshold_seconds=params.get("threshold"),
                source=params["source"],
                account_id=params.get("accountId", ""),
                actor=self.actor(),
                ahead=self.ahead,
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
        "is sent again (`createdId` 1) where the organization keeps codes readable (read-back on); a new "
        "code's `createdId` is its id plus one, never 1. Limits: every send, re-sends included, counts "
        "against the organization's daily issue limit per person (429, with Retry-After); the resend "
        "cooldown (429) holds back new codes only, so a re-send inside it succeeds. Channels: SMS, EMAIL, BOTH, "
        "PHONE/MOBILE (voice call: the gateway is told to speak the code), WHATSAPP (607 without "
        "whatsappTemplateName) and ZALO (621 without zaloTemplateIdentifier), each through the gateway backend "
        "configured for it; a channel with none answers 603 naming it, before anything is issued. The answer "
        "comes once the code is issued and its sending queued: the delivery worker sends it, retrying a "
        "failing gateway, and the code's delivery status and attempts (admin) show the outcome.",
        request=serializers.GenerateOtpSerializer,
        parameters=ATTRIBUTION_PARAMETERS,
        responses={
            200: serializers.GenerateOtpResponseSerializer,
            **_error_responses(400, 600, 601, 602, 603, 607, 608, 621, 429, 606, *COMMON_ERRORS),
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
                    whatsapp_template=data.get("whatsappTemplateName", "").strip(),
                    zalo_template=data.get("zaloTemplateIdentifier", "").strip(),
                ),
                resend_outstanding=True,
                actor=self.actor(),
                surface=Surface.CAPILLARY,
            )
        except services.RecipientUnknown:
            raise SurfaceError(602, "no customer with this entity value") from None
        except (services.DestinationMissing, services.ChannelUnavailable) as error:
            raise SurfaceError(603, str(error)) from None
        except services.IssueRefused as error:
            raise SurfaceError(429, str(error), wait=error.retry_after) from None
        created_id = serializers.RESENT_CREATED_ID if result.resent else result.code.pk + serializers.CREATED_ID_OFFSET
        return Response({"createdId": created_id, "warnings": []})

    @extend_schema(
        operation_id="capillary_validate_otp",
        summary="Validate OTP",
        description="Answers `entity: true` when the code is right (and uses it), and `entity: false`, with "
        "the same status and body, for a wrong, expired, used, locked or superseded code and for an unknown "
        "customer; the reason is in the audit log. A code locks after the organization's attempts per code.",
        request=serializers.ValidateOtpSerializer,
        parameters=ATTRIBUTION_PARAMETERS,
        responses={
            200: serializers.ValidateOtpResponseSerializer,
            **_error_responses(400, 600, 601, 602, 604, *COMMON_ERRORS),
        },
    )
    def validate(self, request):
        data = self.validated(serializers.ValidateOtpSerializer, request.data)
        outcome = services.code_verify(
            organization=self.organization,
            identifier_type=serializers.ENTITY_TYPES[data["entityType"]],
            identifier_value=data["entityValue"].strip(),
            scope=data["action"],
            code=data["code"],
            actor=self.actor(),
            surface=Surface.CAPILLARY,
            ahead=self.ahead,
        )
        return Response({"entity": outcome == VerifyOutcome.SUCCESS, "warnings": []})


class CapillaryOAuthTokenView(SurfaceRequestMixin, views.APIView):
    """Capillary's `POST /v3/oauth/token/generate`, which its docs list as needing no authentication: the
    body's key and secret are the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    error_envelope = errors.V3_ENVELOPE

    @extend_schema(
        operation_id="capillary_oauth_token_generate",
        summary="Generate OAuth access token",
        description="Exchanges an API key for a short-lived access token to send in `X-CAP-API-OAUTH-TOKEN` on "
        "the Capillary OTP endpoints. otpsite's decision: an API key doubles as Capillary's OAuth client, "
        "`key` being the key id and `secret` its secret (not its MD5). The token is an HS256 JWT lasting "
        "`ttlSeconds` (OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS, 300 by default); it carries the key's id and "
        "organization, and each use checks the key again, so it stops working once the key is revoked, "
        "expires or gets a new secret. Every token made is audited, and so is every wrong secret for a real "
        "key id. 401 also when the server has OAuth switched off (no OTPSITE_CAPILLARY_OAUTH_JWT_KEY).",
        request=serializers.OAuthTokenRequestSerializer,
        responses={
            200: serializers.OAuthTokenResponseSerializer,
            **error_responses(
                serializers.CapillaryV3ErrorSerializer,
                (
                    (errors.ERROR_CODES[code][0], f"`{code}` {errors.ERROR_CODES[code][1]}")
                    for code in (400, 401, 405, 429)
                ),
            ),
        },
        auth=[],
    )
    def post(self, request):
        body = serializers.OAuthTokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address = client_ip(request)
        try:
            # The body's key and secret are a credential: guesses count against the address like any other.
            limits.refuse_blocked_address(address)
        except limits.LimitExceeded as exceeded:
            raise Throttled(wait=exceeded.retry_after) from None
        try:
            token = key_services.api_key_oauth_token_issue(
                key_id=body.validated_data["key"],
                secret=body.validated_data["secret"],
                client_ip=address,
                request_id=getattr(request, "request_id", ""),
            )
        except key_services.OAuthDisabled:
            raise AuthenticationFailed("OAuth tokens are not enabled on this server.") from None
        if token is None:
            limits.record_failed_authentication(address)
            raise AuthenticationFailed("The key and secret do not match a usable API key.")
        return Response({"data": {"accessToken": token.access_token, "ttlSeconds": token.ttl_seconds}, "errors": None})
