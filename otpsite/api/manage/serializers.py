from rest_framework import serializers

from otpsite.api.fields import StrictCharField, UtcMillisDateTimeField
from otpsite.api.serializers import StrictInputSerializer


class EmptyStringDateTimeField(UtcMillisDateTimeField):
    """A date as ISO-8601 UTC with milliseconds, or "" when there is none (protobuf strings have no null)."""

    def to_representation(self, value):
        return super().to_representation(value) if value is not None else ""


class ManageValidateOtpSerializer(StrictInputSerializer):
    userName = StrictCharField(max_length=150)
    phoneNumber = StrictCharField(max_length=32)
    otp = StrictCharField(max_length=64)


class ManageSendOtpSerializer(StrictInputSerializer):
    userName = StrictCharField(max_length=150)
    phoneNumber = StrictCharField(max_length=32)
    channel = serializers.ChoiceField(choices=["sms", "email"], help_text="Where to send the code.")


class ManageUserSerializer(serializers.Serializer):
    """The 16-field myKaarma User, from the person's profile. Absent strings are ""."""

    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    userName = serializers.CharField(source="user_name")
    email = serializers.CharField()
    phone = serializers.CharField(source="mobile")
    textNumber = serializers.CharField(source="text_number")
    nickName = serializers.CharField(source="nick_name")
    uuid = serializers.CharField()
    passwordExpires = EmptyStringDateTimeField(source="password_expires_at")
    forcePasswordChange = serializers.BooleanField(source="force_password_change")
    latestInviteStatus = serializers.CharField(source="latest_invite_status")
    latestInviteDate = EmptyStringDateTimeField(source="latest_invite_date")
    latestInviteUUID = serializers.SerializerMethodField()
    isValid = serializers.BooleanField(source="is_valid")
    lastLoginTimestamp = EmptyStringDateTimeField(source="last_login_at")
    userRolloutStage = serializers.CharField(source="rollout_stage")

    def get_latestInviteUUID(self, person) -> str:
        return str(person.latest_invite_uuid) if person.latest_invite_uuid else ""


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
