from rest_framework import serializers

from credentials.choices import Channel, IdentifierType, Scope
from credentials.delivery import PLACEHOLDER
from otpsite.api.errors import SurfaceError
from otpsite.api.fields import DocumentedPatternCharField, StrictCharField
from otpsite.api.serializers import QueryParametersSerializer, StrictInputSerializer

# Capillary's actions (its scopes); STORE_LOGIN is otpsite's own and not offered here.
CAPILLARY_SCOPES = [scope.value for scope in Scope if scope != Scope.STORE_LOGIN]
IDENTIFIER_NAMES = ["mobile", "email", "external_id", "wechat"]
SOURCES = [
    "INSTORE",
    "FACEBOOK",
    "WEB_ENGAGE",
    "WECHAT",
    "MARTJACK",
    "TMALL",
    "TAOBAO",
    "JD",
    "ECOMMERCE",
    "WEBSITE",
    "LINE",
    "MOBILE_APP",
    "ALL",
    "OTHERS",
]
ENTITY_TYPES = {"MOBILE": IdentifierType.MOBILE, "EMAIL": IdentifierType.EMAIL}
# Capillary's channel types and the channels they send on: BOTH is the person's mobile and email, MOBILE
# and PHONE are a voice call. Each gateway channel needs its backend configured (603 naming it otherwise).
CHANNEL_TYPES = {
    "SMS": [Channel.SMS],
    "EMAIL": [Channel.EMAIL],
    "BOTH": [Channel.SMS, Channel.EMAIL],
    "PHONE": [Channel.VOICE],
    "MOBILE": [Channel.VOICE],
    "WHATSAPP": [Channel.WHATSAPP],
    "ZALO": [Channel.ZALO],
}
MAX_THRESHOLD_SECONDS = 86_400
# Spellings Capillary's own pages use for an action: COUPONS in the e-commerce docs and the Get OTP URL
# template. Accepted wherever an action or scope is, and stored as the scope it names.
SCOPE_ALIASES = {"COUPONS": Scope.COUPON.value}
# `createdId` of a generate that sent a still valid code again, as Capillary documents; a new code's
# `createdId` is its id plus CREATED_ID_OFFSET, so that it is never 1.
RESENT_CREATED_ID = 1
CREATED_ID_OFFSET = 1


class UpperChoiceField(serializers.ChoiceField):
    """A choice matched case-insensitively (Capillary samples send "email" as well as "EMAIL")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data.upper())


class ScopeField(serializers.ChoiceField):
    """A Capillary action (scope), aliases included; answers the scope the alias names."""

    def __init__(self, **kwargs):
        super().__init__(choices=CAPILLARY_SCOPES + list(SCOPE_ALIASES), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return SCOPE_ALIASES.get(value, value)


class GetOtpQuerySerializer(QueryParametersSerializer):
    identifierName = serializers.ChoiceField(choices=IDENTIFIER_NAMES)
    identifierValue = serializers.CharField(max_length=256)
    source = UpperChoiceField(choices=SOURCES)
    accountId = serializers.CharField(max_length=100, required=False, allow_blank=True)
    threshold = serializers.IntegerField(
        min_value=1,
        max_value=MAX_THRESHOLD_SECONDS,
        required=False,
        help_text="Only codes issued within this many seconds; any still valid code when absent.",
    )
    scope = ScopeField(help_text="The code's scope; COUPONS is accepted for COUPON.")


class GetOtpResponseSerializer(serializers.Serializer):
    orgId = serializers.IntegerField(help_text="The organization's integer id.")
    userId = serializers.IntegerField(help_text="The person's integer id.")
    code = serializers.CharField(help_text="The most recently issued code that is still valid.")
    validUpto = serializers.DateTimeField(help_text="ISO-8601 with a UTC offset, e.g. 2026-08-07T16:14:20+00:00.")
    warnings = serializers.ListField(child=serializers.DictField(), default=list)


class ChannelSerializer(StrictInputSerializer):
    type = UpperChoiceField(
        choices=list(CHANNEL_TYPES),
        help_text="SMS, EMAIL, BOTH (the person's mobile and email), PHONE or MOBILE (a voice call that speaks "
        "the code), WHATSAPP (needs whatsappTemplateName) or ZALO (needs zaloTemplateIdentifier); any case.",
    )
    value = StrictCharField(
        max_length=256,
        required=False,
        allow_blank=True,
        help_text="Where to send it; the person's own mobile or email when empty.",
    )


# What the schema says of the templates: the same rules as the validators below, in JSON Schema's terms
# (a pattern matches anywhere in the string unless anchored).
# Bounded spacing inside the braces: with `\s*`, a schema-driven client (schemathesis) merges the pattern with
# maxLength into `\s{0,981}`, a Unicode class too large for its regex engine, and fails to build requests.
PLACEHOLDER_PATTERN = r"\{\{\s{0,8}validation_code\s{0,8}\}\}"


def _with_placeholder(value: str) -> str:
    if not PLACEHOLDER.search(value):
        raise serializers.ValidationError("The template must contain {{ validation_code }} where the code goes.")
    return value


def _text(max_length: int, pattern: str, **kwargs) -> DocumentedPatternCharField:
    return DocumentedPatternCharField(max_length=max_length, schema_pattern=pattern, trim_whitespace=False, **kwargs)


class EmailTemplateSerializer(StrictInputSerializer):
    subject = _text(
        200, r"^[^\r\n]+$", required=False, allow_blank=True, help_text="One line: no carriage return or line feed."
    )
    body = _text(5000, PLACEHOLDER_PATTERN, help_text="Text with {{ validation_code }} where the code goes.")

    def validate_subject(self, value: str) -> str:
        # An email header: a line break would end it, or start another header.
        if "\r" in value or "\n" in value:
            raise serializers.ValidationError("The subject must be one line, with no carriage return or line feed.")
        return value

    def validate_body(self, value: str) -> str:
        return _with_placeholder(value)


class EntitySerializer(StrictInputSerializer):
    entityType = UpperChoiceField(choices=list(ENTITY_TYPES), help_text="MOBILE or EMAIL, any case.")
    entityValue = StrictCharField(max_length=256, help_text="The person's registered mobile or email.")
    action = ScopeField(help_text="The purpose (scope) of the code; COUPONS is accepted for COUPON.")


class GenerateOtpSerializer(EntitySerializer):
    template = _text(
        1000,
        PLACEHOLDER_PATTERN,
        required=False,
        allow_blank=True,
        help_text="SMS text with {{ validation_code }}; our own text when empty.",
    )
    emailTemplate = EmailTemplateSerializer(required=False)
    channels = ChannelSerializer(many=True, allow_empty=False, max_length=4)
    whatsappTemplateName = StrictCharField(max_length=200, required=False, allow_blank=True)
    zaloTemplateIdentifier = StrictCharField(max_length=200, required=False, allow_blank=True)

    def validate_template(self, value: str) -> str:
        return _with_placeholder(value) if value else value

    def validate(self, data: dict) -> dict:
        types = {channel["type"] for channel in data.get("channels", [])}
        if "WHATSAPP" in types and not data.get("whatsappTemplateName", "").strip():
            raise SurfaceError(607)
        if "ZALO" in types and not data.get("zaloTemplateIdentifier", "").strip():
            raise SurfaceError(621)
        return data


class GenerateOtpResponseSerializer(serializers.Serializer):
    createdId = serializers.IntegerField(
        help_text="1 when a still valid code was sent again (Capillary's convention); otherwise the new code's "
        "id plus one (its id in the admin + 1), so that a new code never answers 1."
    )
    warnings = serializers.ListField(child=serializers.DictField(), default=list)


class ValidateOtpSerializer(EntitySerializer):
    code = StrictCharField(max_length=64, help_text="The code the person typed.")


class ValidateOtpResponseSerializer(serializers.Serializer):
    entity = serializers.BooleanField(help_text="True when the code was right; false for every kind of failure alike.")
    warnings = serializers.ListField(child=serializers.DictField(), default=list)


class OAuthTokenRequestSerializer(StrictInputSerializer):
    key = StrictCharField(max_length=64, help_text="The otpsite API key id (16 hex characters).")
    secret = StrictCharField(max_length=256, help_text="The API key's secret, as shown once when it was made.")


class OAuthTokenDataSerializer(serializers.Serializer):
    accessToken = serializers.CharField(help_text="Send it in the X-CAP-API-OAUTH-TOKEN header.")
    ttlSeconds = serializers.IntegerField(help_text="Seconds the token stays valid.")


class OAuthTokenResponseSerializer(serializers.Serializer):
    data = OAuthTokenDataSerializer()
    errors = serializers.JSONField(allow_null=True, default=None, help_text="Always null on success.")


class CapillaryErrorItemSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=False)
    code = serializers.IntegerField()
    message = serializers.CharField()


class CapillaryErrorSerializer(serializers.Serializer):
    errors = CapillaryErrorItemSerializer(many=True)


class CapillaryV3ErrorSerializer(serializers.Serializer):
    data = serializers.JSONField(allow_null=True, default=None, help_text="Always null on failure.")
    errors = CapillaryErrorItemSerializer(many=True)
