import base64
import binascii
import datetime
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from credentials import services
from credentials.choices import CardState
from otpsite.api.fields import DocumentedPatternCharField, StrictBooleanField, StrictCharField, StrictIntegerField
from otpsite.api.serializers import QueryParametersSerializer, StrictInputSerializer

MAX_ROW_ID = 2**63 - 1  # PostgreSQL's bigint: a token past it was not one this server gave
EXT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")
OTP_DESCRIPTION = (
    "The card as `rows|cols|counters|card(|latestChallenge)`: rows and cols in decimal; counters one base-36 "
    "digit per cell, row-major, the times that cell was challenged (0 or 1: cells are never reused); card "
    "every cell's digits concatenated row-major, each len(card)/(rows×cols) long; latestChallenge the "
    "challenge waiting for an answer (001–168, or A1–N12 with coordinateCardFormat)."
)


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-01-31T09:30:00Z", "nullable": True})
class NevisDateTimeField(serializers.DateTimeField):
    """ISO-8601 in UTC to the second with `Z`, as Nevis documents its dates."""

    def to_representation(self, value):
        return _nevis_moment(value)


def _nevis_moment(value) -> str | None:
    return None if value is None else value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExtIdField(DocumentedPatternCharField):
    default_error_messages = {"pattern": "Use 1 to 100 letters, digits or . _ : @ -."}

    def __init__(self, **kwargs):
        super().__init__(schema_pattern=EXT_ID_PATTERN.pattern, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not EXT_ID_PATTERN.match(value):
            self.fail("pattern")
        return value


class ValiditySerializer(StrictInputSerializer):
    def get_fields(self):
        # `from` is a Python keyword, so the fields are named here rather than declared as attributes.
        return {
            "from": NevisDateTimeField(required=False, allow_null=True, help_text="Start of validity, ISO-8601."),
            "to": NevisDateTimeField(required=False, allow_null=True, help_text="End of validity, ISO-8601."),
        }


class OtpCredentialSerializer(serializers.Serializer):
    """nevisIDM's OTP credential DTO."""

    created = NevisDateTimeField(source="created_at")
    lastModified = NevisDateTimeField(source="updated_at")
    version = serializers.IntegerField(help_text="Send it back with PATCH and replace (optimistic locking).")
    extId = serializers.CharField(source="ext_id")
    userExtId = serializers.CharField(source="otp_user.ext_id")
    policyExtId = serializers.CharField(source="policy.ext_id")
    stateName = serializers.SerializerMethodField()
    stateChangeReason = serializers.CharField(source="state_change_reason")
    stateChangeDetail = serializers.CharField(source="state_change_detail")
    lastSuccessfulLoginDate = NevisDateTimeField(source="last_successful_login_at")
    successfulLoginCount = serializers.IntegerField(source="successful_login_count")
    lastFailedLoginDate = NevisDateTimeField(source="last_failed_login_at")
    failedLoginCount = serializers.IntegerField(source="failed_login_count")
    modificationComment = serializers.CharField(source="modification_comment")
    type = serializers.SerializerMethodField()
    validity = serializers.SerializerMethodField()
    otp = serializers.SerializerMethodField(help_text=OTP_DESCRIPTION)

    def get_stateName(self, card) -> str:
        return card.effective_state()

    def get_type(self, card) -> str:
        return "OTP Card"

    @extend_schema_field(ValiditySerializer)
    def get_validity(self, card) -> dict:
        field = NevisDateTimeField()
        return {"from": field.to_representation(card.valid_from), "to": field.to_representation(card.valid_to)}

    def get_otp(self, card) -> str:
        return services.card_otp_string(card)

    def to_representation(self, card) -> dict:
        """What the fields above make (the schema is read from them; a test compares the two), written out:
        walking DRF's fields cost a card read more than its queries did."""
        moment = _nevis_moment
        return {
            "created": moment(card.created_at),
            "lastModified": moment(card.updated_at),
            "version": int(card.version),
            "extId": str(card.ext_id),
            "userExtId": str(card.otp_user.ext_id),
            "policyExtId": str(card.policy.ext_id),
            "stateName": card.effective_state(),
            "stateChangeReason": str(card.state_change_reason),
            "stateChangeDetail": str(card.state_change_detail),
            "lastSuccessfulLoginDate": moment(card.last_successful_login_at),
            "successfulLoginCount": int(card.successful_login_count),
            "lastFailedLoginDate": moment(card.last_failed_login_at),
            "failedLoginCount": int(card.failed_login_count),
            "modificationComment": str(card.modification_comment),
            "type": "OTP Card",
            "validity": {"from": moment(card.valid_from), "to": moment(card.valid_to)},
            "otp": services.card_otp_string(card),
        }


class OtpCredentialCreateSerializer(StrictInputSerializer):
    extId = ExtIdField(required=False, help_text="Generated when not given.")
    policyExtId = ExtIdField(required=False, help_text="The client's default OTP policy when not given.")
    stateName = serializers.ChoiceField(
        choices=[CardState.INITIAL, CardState.ACTIVE, CardState.DISABLED], required=False, default=CardState.INITIAL
    )


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+$"}]})
class VersionField(serializers.Field):
    """The version a caller read; an integer, or its decimal string (nevisIDM's replace page types it as a
    string)."""

    default_error_messages = {"invalid": "Must be the integer version of the credential as last read."}

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and not (data.isdigit() and data.isascii()):
            self.fail("invalid")
        value = int(data)
        if not 0 <= value <= 2_147_483_647:
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value


class OtpCredentialReplaceSerializer(StrictInputSerializer):
    modificationComment = StrictCharField(max_length=500, help_text="Why the card is replaced.")
    version = VersionField()


class OtpCredentialPatchSerializer(StrictInputSerializer):
    version = StrictIntegerField(min_value=0, max_value=2_147_483_647)
    stateName = serializers.ChoiceField(choices=CardState.values, required=False)
    stateChangeReason = StrictCharField(max_length=100, required=False, allow_blank=True)
    stateChangeDetail = StrictCharField(max_length=500, required=False, allow_blank=True)
    modificationComment = StrictCharField(max_length=500, required=False, allow_blank=True)
    validity = ValiditySerializer(required=False)


def continuation_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


class CredentialPageQuerySerializer(QueryParametersSerializer):
    continuationToken = serializers.CharField(
        required=False, max_length=100, help_text="From the previous page's _pagination; opaque."
    )
    limit = serializers.IntegerField(
        required=False, min_value=0, max_value=100, help_text="Page size, 1 to 100 (0 or absent: 100)."
    )

    def validate_continuationToken(self, value: str) -> str:
        try:
            prefix, _, last_id = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
            if prefix != "after" or not (last_id.isdigit() and last_id.isascii()) or int(last_id) > MAX_ROW_ID:
                raise ValueError
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise serializers.ValidationError("Not a continuation token this server gave.") from None
        return value

    def validate(self, attrs: dict) -> dict:
        if "continuationToken" in attrs:
            attrs["after"] = int(base64.urlsafe_b64decode(attrs["continuationToken"].encode()).decode().split(":")[1])
        return attrs


class CredentialPageSerializer(serializers.Serializer):
    continuationToken = serializers.CharField(allow_null=True)
    limit = serializers.IntegerField()


class OtpCredentialListSerializer(serializers.Serializer):
    items = OtpCredentialSerializer(many=True)
    _pagination = CredentialPageSerializer()


class ChallengeResponseSerializer(serializers.Serializer):
    challenge = serializers.CharField(allow_null=True, help_text="The cell to answer; null when none is left.")
    status = serializers.CharField(help_text="The credential's state.")


class LoginSerializer(StrictInputSerializer):
    challenge = StrictCharField(max_length=8)
    password = StrictCharField(max_length=16, trim_whitespace=False)
    updateLoginInfoOnSuccess = StrictBooleanField(required=False, default=False)


class LoginStatusSerializer(serializers.Serializer):
    """nevisIDM's LoginStatus DTO (the login and login-info pages). Every field is always present; a time
    that has never happened is null."""

    statusCode = serializers.IntegerField(help_text="0 success; 2 wrong answer; 3 no such challenge waiting.")
    description = serializers.CharField()
    userExtId = serializers.CharField()
    clientExtId = serializers.CharField()
    credentialExtId = serializers.CharField()
    credentialType = serializers.CharField()
    userLastLogin = NevisDateTimeField(allow_null=True, help_text="The user's last successful login.")
    userLastLoginFailure = NevisDateTimeField(
        allow_null=True, help_text="The user's last failed login: the latest wrong answer on any of their OTP cards."
    )
    credentialLastLogin = NevisDateTimeField(allow_null=True, help_text="The card's last successful login.")
    credentialLastLoginFailure = NevisDateTimeField(allow_null=True, help_text="The card's last failed login.")
    successfulLoginCount = serializers.IntegerField(help_text="The card's success counter.")
    failedLoginCount = serializers.IntegerField(help_text="The card's failure counter.")


class NevisErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class NevisErrorSerializer(serializers.Serializer):
    errors = NevisErrorItemSerializer(many=True)
