import ipaddress

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from credentials import services
from credentials.choices import Channel, IdentifierType, Scope, Surface, VerifyOutcome
from otpsite.api.authentication import ApiKeyBasicAuthentication
from otpsite.api.errors import SurfaceError
from otpsite.api.fields import UtcMillisDateTimeField
from otpsite.api.manage import errors, manage_pb2, serializers
from otpsite.api.manage.protobuf import ProtobufParser, ProtobufRenderer
from otpsite.api.parsers import BoundedJSONParser
from otpsite.api.schema import error_responses
from otpsite.api.scoping import caller_organization
from otpsite.api.views import SurfaceViewSet, json_object_ahead
from otpusers.audit import Actor

PROTOBUF_MESSAGES = {
    "validate_otp": (manage_pb2.ValidateOtpRequest, manage_pb2.ValidateOtpResponse),
    "send_otp": (manage_pb2.SendOtpRequest, manage_pb2.SendOtpResponse),
}
CLIENT_IP = OpenApiParameter(
    "clientIp",
    {"oneOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]},
    OpenApiParameter.HEADER,
    description="The end user's IP address (IPv4 or IPv6); kept on the audit event.",
)


def _error_responses(*manage_errors: errors.ManageError) -> dict:
    """Error responses in application/json only: myKaarma documents protobuf for 200 alone."""
    responses = error_responses(
        serializers.ManageEnvelopeSerializer,
        ((error.http_status, f"`{error.code}` {error.name}: {error.message}") for error in manage_errors),
    )
    return {(status, JSONRenderer.media_type): response for status, response in responses.items()}


COMMON_ERRORS = (
    errors.ManageError.BAD_REQUEST,
    errors.ManageError.INVALID_AUTH,
    errors.ManageError.UNAUTHORIZED,
    errors.ManageError.INTERNAL_ERROR,
)


class ManageUserOtpViewSet(SurfaceViewSet):
    """myKaarma's manage API, OTP part. Bodies are JSON or protobuf (manage.proto) by Content-Type; a 200
    answers by Accept, and every other status in JSON whatever Accept says, as myKaarma documents
    protobuf for 200 only and application/json for 400, 401, 403 and 500."""

    # Session last: the first class gives the 401 challenge; staff signed in to the admin browse with CSRF.
    authentication_classes = [ApiKeyBasicAuthentication, SessionAuthentication]
    parser_classes = [BoundedJSONParser, ProtobufParser]
    renderer_classes = [JSONRenderer, ProtobufRenderer]
    error_envelope = errors.ENVELOPE
    required_api_permissions = {"validate_otp": "manage.otp.verify", "send_otp": "manage.otp.send"}

    def get_renderers(self):
        """JSON or protobuf for API clients (any other Accept is their 400); the browsable API too for staff
        signed in to the admin, whose session (not an API key) makes the call."""
        renderers = super().get_renderers()
        django_request = getattr(self.request, "_request", self.request)
        if "HTTP_AUTHORIZATION" not in django_request.META and getattr(django_request, "user", None):
            if django_request.user.is_authenticated and django_request.user.is_staff:
                renderers.append(BrowsableAPIRenderer())
        return renderers

    def get_serializer_class(self):
        """The request body of the action, for the browsable API's form."""
        if getattr(self, "action", None) == "send_otp":
            return serializers.ManageSendOtpSerializer
        return serializers.ManageValidateOtpSerializer

    def get_protobuf_messages(self) -> tuple[type, type]:
        return PROTOBUF_MESSAGES.get(getattr(self, "action", None) or "validate_otp", PROTOBUF_MESSAGES["validate_otp"])

    def actor(self) -> Actor:
        """The caller, with the end user's address from the clientIp header where one is given."""
        actor = Actor.from_request(self.request)
        offered = self.request.headers.get("clientIp", "").strip()
        if not offered:
            return actor
        try:
            client_ip = str(ipaddress.ip_address(offered))
        except ValueError:
            raise ValidationError({"clientIp": ["Must be an IPv4 or IPv6 address."]}) from None
        return Actor(**{**actor.__dict__, "client_ip": client_ip})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code != 200:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response

    def read_ahead(self, organization_id: int):
        """Validate's read of the person and their code, from a JSON body that validates."""
        if self.action != "validate_otp":
            return None
        data = self.validated_ahead(serializers.ManageValidateOtpSerializer, json_object_ahead(self.request))
        if data is None:
            return None
        return services.code_check_ahead(
            organization_id=organization_id,
            identifier_type=IdentifierType.USER_NAME,
            identifier_value=data["userName"],
            scope=Scope.GENERIC,
        )

    def envelope(self, **payload) -> Response:
        return Response(errors.envelope(self.request.request_id, **payload))

    @extend_schema(
        operation_id="manage_validate_user_otp",
        summary="validate User with OTP and return User",
        description="ApiScope `manage.otp.verify`. On success, the user (with lastLoginTimestamp now set). A "
        "wrong, expired, used or locked OTP, an unknown or deactivated user, and a userName and phoneNumber "
        "that do not name the same person all answer the same 400 `100006 OTP_INVALID`; the reason is in "
        "the audit log. Accepts JSON or `application/x-protobuf` (manage.proto); a 200 answers in the encoding "
        "`Accept` names, every error in `application/json` whatever `Accept` says, as myKaarma documents.",
        parameters=[CLIENT_IP],
        request={"application/json": serializers.ManageValidateOtpSerializer, "application/x-protobuf": bytes},
        responses={200: serializers.ManageValidateOtpResponseSerializer, **_error_responses(*COMMON_ERRORS)},
    )
    def validate_otp(self, request):
        data = self.validated(serializers.ManageValidateOtpSerializer, request.data)
        result = services.code_check(
            organization=caller_organization(request),
            identifier_type=IdentifierType.USER_NAME,
            identifier_value=data["userName"],
            phone_number=data["phoneNumber"],
            scope=Scope.GENERIC,
            code=data["otp"],
            record_login=True,
            actor=self.actor(),
            surface=Surface.MANAGE,
            ahead=self.ahead,
        )
        if result.outcome != VerifyOutcome.SUCCESS:
            raise SurfaceError(errors.ManageError.OTP_INVALID)
        return self.envelope(user=serializers.ManageUserSerializer(result.person).data)

    @extend_schema(
        operation_id="manage_send_user_otp",
        summary="send a User an OTP (otpsite extension)",
        description="**otpsite extension**: myKaarma documents no sender. ApiScope `manage.otp.send`. Sends "
        "a code (scope GENERIC) by SMS to the user's mobile or by email, within the organization's daily "
        "limit and resend cooldown (429 `100009`). A userName and phoneNumber that do not name one active "
        "person answer 404 `100002`. The answer comes once the code is issued and its sending queued (the "
        "delivery worker sends it and retries); 503 `200002` when the channel has no gateway. A 200 answers in "
        "the encoding `Accept` names; every error in `application/json`.",
        parameters=[CLIENT_IP],
        request={"application/json": serializers.ManageSendOtpSerializer, "application/x-protobuf": bytes},
        responses={
            200: serializers.ManageSendOtpResponseSerializer,
            **_error_responses(
                *COMMON_ERRORS,
                errors.ManageError.NOT_FOUND,
                errors.ManageError.RATE_LIMITED,
                errors.ManageError.DOWNSTREAM_FAIL,
            ),
        },
        extensions={"x-otpsite-extension": True},
    )
    def send_otp(self, request):
        body = serializers.ManageSendOtpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        channel = Channel.SMS if data["channel"] == "sms" else Channel.EMAIL
        try:
            result = services.code_issue(
                organization=caller_organization(request),
                identifier_type=IdentifierType.USER_NAME,
                identifier_value=data["userName"],
                phone_number=data["phoneNumber"],
                scope=Scope.GENERIC,
                destinations=[services.Destination(channel, "")],
                actor=self.actor(),
                surface=Surface.MANAGE,
            )
        except (services.RecipientUnknown, services.DestinationMissing):
            raise SurfaceError(errors.ManageError.NOT_FOUND) from None
        except services.IssueRefused as refused:
            raise SurfaceError(errors.ManageError.RATE_LIMITED, wait=refused.retry_after) from None
        except services.ChannelUnavailable:
            raise SurfaceError(errors.ManageError.DOWNSTREAM_FAIL) from None
        return self.envelope(validUntil=UtcMillisDateTimeField().to_representation(result.code.valid_until))
