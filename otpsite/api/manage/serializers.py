from rest_framework import serializers

from otpsite.api.fields import StrictCharField, UtcMillisDateTimeField
from otpsite.api.serializers import StrictInputSerializer


def required_text(max_length: int) -> StrictCharField:
    # Protobuf cannot tell a missing string from an empty one, so JSON answers both alike too.
    return StrictCharField(
        max_length=max_length,
        error_messages={"required": "This field is required.", "blank": "This field is required."},
    )


class ManageValidateOtpSerializer(StrictInputSerializer):
    userName = required_text(150)
    phoneNumber = required_text(32)
    otp = required_text(64)


class ManageSendOtpSerializer(StrictInputSerializer):
    userName = required_text(150)
    phoneNumber = required_text(32)
    channel = serializers.ChoiceField(choices=["sms", "email"], help_text="Where to send the code.")


class ManageUserSerializer(serializers.Serializer):
    """The 16-field myKaarma User, from the person's profile. Dates are ISO-8601 UTC; absent values are ""."""

    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    userName = serializers.CharField(source="user_name")
    email = serializers.CharField()
    phone = serializers.CharField(source="mobile")
    textNumber = serializers.CharField(source="text_number")
    nickName = serializers.CharField(source="nick_name")
    uuid = serializers.CharField()
    passwordExpires = UtcMillisDateTimeField(source="password_expires_at")
    forcePasswordChange = serializers.BooleanField(source="force_password_change")
    latestInviteStatus = serializers.CharField(source="latest_invite_status")
    latestInviteDate = UtcMillisDateTimeField(source="latest_invite_date")
    latestInviteUUID = serializers.SerializerMethodField()
    isValid = serializers.BooleanField(source="is_valid")
    lastLoginTimestamp = UtcMillisDateTimeField(source="last_login_at")
    userRolloutStage = serializers.CharField(source="rollout_stage")

    def get_latestInviteUUID(self, person) -> str:
        return str(person.latest_invite_uuid) if person.latest_invite_uuid else ""

    def to_representation(self, person) -> dict:
        # Protobuf strings have no null: a date or id that is not set is "" in both encodings.
        return {name: "" if value is None else value for name, value in super().to_representation(person).items()}


class ApiErrorSerializer(serializers.Serializer):
    errorCode = serializers.IntegerField()
    errorTitle = serializers.CharField()
    errorMessage = serializers.CharField()


class ApiWarningSerializer(serializers.Serializer):
    warningCode = serializers.IntegerField()
    warningTitle = serializers.CharField()
    warningMessage = serializers.CharField()


class ManageEnvelopeSerializer(serializers.Serializer):
    errors = ApiErrorSerializer(many=True)
    warnings = ApiWarningSerializer(many=True)
    apiRequestId = serializers.UUIDField(help_text="This request's id, also sent as X-Request-ID.")


class ManageValidateOtpResponseSerializer(ManageEnvelopeSerializer):
    user = ManageUserSerializer()


class ManageSendOtpResponseSerializer(ManageEnvelopeSerializer):
    validUntil = serializers.CharField(help_text="When the code sent stops working (ISO-8601, UTC).")
