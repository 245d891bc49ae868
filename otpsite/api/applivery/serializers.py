import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from otpsite.api.fields import PublicIdField, StrictIntegerField, UtcMillisDateTimeField, utc_millis
from otpsite.api.serializers import StrictInputSerializer
from otpusers.models import MAX_SAFE_INTEGER, UNLIMITED_DOWNLOADS

# The address pattern and length Applivery documents for an OTP user's email.
EMAIL_PATTERN = re.compile(
    r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$"
)
# The same addresses as EMAIL_PATTERN, written without lookaheads, for the schema.
EMAIL_SCHEMA_PATTERN = (
    r"^([A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$"
)
EMAIL_MAX_LENGTH = 256
MAX_EMAILS_PER_CREATE = 500


class OtpUserSerializer(serializers.Serializer):
    """An OTP user as Applivery returns it: one person's access to one published application."""

    id = PublicIdField(source="public_id", read_only=True)
    organizationId = PublicIdField(source="published_application.store.organization.public_id", read_only=True)
    storeId = PublicIdField(source="published_application.store.public_id", read_only=True)
    publishedApplicationId = PublicIdField(source="published_application.public_id", read_only=True)
    email = serializers.EmailField(source="otp_user.email", max_length=EMAIL_MAX_LENGTH, read_only=True)
    allowedDownloadsNum = serializers.IntegerField(
        source="allowed_downloads_num",
        read_only=True,
        min_value=-MAX_SAFE_INTEGER,
        max_value=MAX_SAFE_INTEGER,
        help_text="Downloads allowed in all; -1 means unlimited.",
    )
    lastLoginDate = UtcMillisDateTimeField(
        source="last_login_at", read_only=True, allow_null=True, help_text="Null until the first OTP login."
    )
    lastDownloadDate = UtcMillisDateTimeField(
        source="last_download_at", read_only=True, allow_null=True, help_text="Null until the first download."
    )
    createdAt = UtcMillisDateTimeField(source="created_at", read_only=True)
    updatedAt = UtcMillisDateTimeField(source="updated_at", read_only=True)

    # What a list page reads of each access (with `values()`): its store and organization are the page's.
    LIST_COLUMNS = (
        "public_id",
        "otp_user__email",
        "published_application__public_id",
        "allowed_downloads_num",
        "last_login_at",
        "last_download_at",
        "created_at",
        "updated_at",
    )

    def to_representation(self, access) -> dict:
        """What the fields above make (the schema is read from them; a test compares the two), written out."""
        application = access.published_application
        return self.from_row(
            {
                "public_id": access.public_id,
                "otp_user__email": access.otp_user.email,
                "published_application__public_id": application.public_id,
                **{column: getattr(access, column) for column in self.LIST_COLUMNS[3:]},
            },
            store=application.store,
        )

    @classmethod
    def from_row(cls, row: dict, *, store) -> dict:
        """An OTP user from the LIST_COLUMNS of its access and its store (with its organization): a list page
        makes fifty without building a model instance, or walking DRF's fields, for any of them."""
        return {
            "id": row["public_id"],
            "organizationId": store.organization.public_id,
            "storeId": store.public_id,
            "publishedApplicationId": row["published_application__public_id"],
            "email": row["otp_user__email"],
            "allowedDownloadsNum": row["allowed_downloads_num"],
            "lastLoginDate": utc_millis(row["last_login_at"]),
            "lastDownloadDate": utc_millis(row["last_download_at"]),
            "createdAt": utc_millis(row["created_at"]),
            "updatedAt": utc_millis(row["updated_at"]),
        }


def _allowed_downloads_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=UNLIMITED_DOWNLOADS,
        max_value=MAX_SAFE_INTEGER,
        help_text="Downloads allowed in all; -1 means unlimited.",
        **kwargs,
    )


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": EMAIL_SCHEMA_PATTERN, "maxLength": EMAIL_MAX_LENGTH},
            {
                "type": "array",
                "items": {"type": "string", "pattern": EMAIL_SCHEMA_PATTERN, "maxLength": EMAIL_MAX_LENGTH},
                "minItems": 1,
                "maxItems": MAX_EMAILS_PER_CREATE,
            },
        ]
    }
)
class EmailOrListField(serializers.Field):
    """One address or a list of them; always cleaned to a list."""

    default_error_messages = {
        "type": "Must be an email address or a list of email addresses.",
        "empty": "Give at least one email address.",
        "too_many": f"Give at most {MAX_EMAILS_PER_CREATE} email addresses in one request.",
        "format": "{value!r} is not a valid email address (at most 256 characters).",
    }

    def to_internal_value(self, data) -> list[str]:
        emails = [data] if isinstance(data, str) else data
        if not isinstance(emails, list) or not all(isinstance(email, str) for email in emails):
            self.fail("type")
        if not emails:
            self.fail("empty")
        if len(emails) > MAX_EMAILS_PER_CREATE:
            self.fail("too_many")
        cleaned = []
        for email in emails:
            email = email.strip()
            if len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.match(email):
                self.fail("format", value=email[:300])
            cleaned.append(email)
        return cleaned

    def to_representation(self, value):
        return value


class OtpUserCreateSerializer(StrictInputSerializer):
    email = EmailOrListField(help_text="One email address, or a list to create several OTP users at once.")
    allowedDownloadsNum = _allowed_downloads_field()
    publishedApplicationId = PublicIdField(help_text="The published application to give access to.")


class OtpUserUpdateSerializer(StrictInputSerializer):
    allowedDownloadsNum = _allowed_downloads_field(required=False)


class StoreSerializer(serializers.Serializer):
    """A store with the documented field names otpsite models (customDomain, branding, configuration and
    createdBy are not modelled, so not answered)."""

    id = PublicIdField(source="public_id", read_only=True)
    organization = PublicIdField(source="organization.public_id", read_only=True, help_text="The organization's id.")
    security = serializers.ChoiceField(choices=["public", "logged"], read_only=True)
    createdAt = UtcMillisDateTimeField(source="created_at", read_only=True)
    updatedAt = UtcMillisDateTimeField(source="updated_at", read_only=True)


class PublishedApplicationSerializer(serializers.Serializer):
    """A published application ("pubApp") with the documented field names otpsite models."""

    id = PublicIdField(source="public_id", read_only=True, help_text="The publishedApplicationId.")
    organization = PublicIdField(source="store.organization.public_id", read_only=True)
    store = PublicIdField(source="store.public_id", read_only=True)
    application = PublicIdField(
        source="application_public_id", read_only=True, help_text="The applicationId the publication offers."
    )
    slug = serializers.CharField(read_only=True)
    visibility = serializers.ChoiceField(choices=["active", "inactive", "unlisted"], read_only=True)
    distributionUrl = serializers.SerializerMethodField(help_text="The store page where people sign in and download.")
    createdAt = UtcMillisDateTimeField(source="created_at", read_only=True)
    updatedAt = UtcMillisDateTimeField(source="updated_at", read_only=True)

    def get_distributionUrl(self, publication) -> str:
        path = reverse("store:page", kwargs={"store_slug": publication.store.slug, "app_slug": publication.slug})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


#
# Envelopes, for the schema: every success is {"status": true, "data": ...}.
#


class OtpUserResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = OtpUserSerializer()


class OtpUserCreateResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = OtpUserSerializer(many=True, help_text="Always a list, even for one email.")


class PageSerializer(serializers.Serializer):
    """The mongoose-paginate block every Applivery list answers; `items` is set by each list."""

    totalDocs = serializers.IntegerField()
    limit = serializers.IntegerField()
    hasPrevPage = serializers.BooleanField()
    hasNextPage = serializers.BooleanField()
    page = serializers.IntegerField()
    totalPages = serializers.IntegerField()
    pagingCounter = serializers.IntegerField()
    prevPage = serializers.IntegerField(allow_null=True)
    nextPage = serializers.IntegerField(allow_null=True)


class OtpUserPageSerializer(PageSerializer):
    items = OtpUserSerializer(many=True)


class OtpUserListResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = OtpUserPageSerializer()


class StorePageSerializer(PageSerializer):
    items = StoreSerializer(many=True)


class StoreListResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = StorePageSerializer()


class PublishedApplicationPageSerializer(PageSerializer):
    items = PublishedApplicationSerializer(many=True)


class PublishedApplicationListResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = PublishedApplicationPageSerializer()


class PublishedApplicationResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = PublishedApplicationSerializer()


class DeleteResultSerializer(serializers.Serializer):
    delete = serializers.BooleanField(help_text="True: the OTP user was deleted.")


class OtpUserDeleteResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=True)
    data = DeleteResultSerializer()


class AppliveryErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(
        help_text="3001 not found, 6001 invalid input, 4002 not authenticated, "
        "4003 permission denied, 4005 method not allowed."
    )
    message = serializers.CharField()
    data = serializers.DictField(
        required=False, help_text="For 6001, each field at fault (wire name) with its messages."
    )


class AppliveryErrorResponseSerializer(serializers.Serializer):
    status = serializers.BooleanField(default=False)
    error = AppliveryErrorSerializer()
