import re

import django_filters
from django import forms
from django.db.models import F, Subquery
from drf_spectacular.utils import extend_schema_field

from otpusers.choices import Visibility
from otpusers.ids import normalize_public_id
from otpusers.models import AppAccess, PublishedApplication

SORT_PATTERN = re.compile(r"^([\w.]*?)(?::(asc|desc))?$")


class PublicIdFormField(forms.CharField):
    default_error_messages = {"invalid": "Must be 24 hexadecimal characters (^[a-fA-F0-9]{24}$)."}

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        normalized = normalize_public_id(value)
        if normalized is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return normalized


@extend_schema_field({"type": "string", "pattern": "^([a-fA-F0-9]{24})?$"})  # empty: no filter
class PublicIdFilter(django_filters.CharFilter):
    field_class = PublicIdFormField


class PublishedApplicationFilter(PublicIdFilter):
    """By the publication's public id, compared as its primary key found first: the list then reads the
    publication's rows from its own index in the page's order (a join would leave them to be sorted)."""

    def filter(self, queryset, value):
        if not value:
            return queryset
        found = PublishedApplication.objects.filter(public_id=value).values("pk")[:1]
        return queryset.filter(published_application=Subquery(found))


class SortFormField(forms.CharField):
    """`field`, `field:asc` or `field:desc`, cleaned to (field, descending)."""

    def __init__(self, *, sort_fields: dict[str, str], **kwargs):
        self.sort_fields = sort_fields
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        match = SORT_PATTERN.match(value)
        if match is None or match.group(1) not in self.sort_fields:
            raise forms.ValidationError(
                f"Sort by one of {', '.join(self.sort_fields)}, optionally followed by :asc or :desc.",
                code="invalid",
            )
        return self.sort_fields[match.group(1)], match.group(2) == "desc"


def _nullable(model, path: str) -> bool:
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name).null


@extend_schema_field({"type": "string", "pattern": r"^[\w.]*((:asc)|(:desc))?$", "example": "createdAt:desc"})
class SortFilter(django_filters.Filter):
    field_class = SortFormField

    def filter(self, queryset, value):
        if not value:
            return queryset
        field_name, descending = value
        if not _nullable(queryset.model, field_name):
            # No NULLS FIRST/LAST on a column that has no nulls, so that an index in this order serves it.
            return queryset.order_by(f"-{field_name}", "-id") if descending else queryset.order_by(field_name, "id")
        if descending:
            return queryset.order_by(F(field_name).desc(nulls_last=True), "-id")
        return queryset.order_by(F(field_name).asc(nulls_first=True), "id")


class AppAccessFilterSet(django_filters.FilterSet):
    """The list filters of Applivery's OTP-user list, under their wire names."""

    # Wire sort keys and the model fields they order by.
    SORT_FIELDS = {
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "email": "otp_user__email",
        "allowedDownloadsNum": "allowed_downloads_num",
        "lastLoginDate": "last_login_at",
        "lastDownloadDate": "last_download_at",
    }

    publishedApplicationId = PublishedApplicationFilter(
        field_name="published_application__public_id", help_text="Only this published application's users."
    )
    applicationId = PublicIdFilter(
        field_name="published_application__application_public_id",
        help_text="Only users of any publication of this application.",
    )
    email = django_filters.CharFilter(
        field_name="otp_user__email",
        lookup_expr="icontains",
        max_length=500,
        help_text="Part or all of the email address, case-insensitive.",
    )
    sort = SortFilter(
        sort_fields=SORT_FIELDS,
        help_text="`field`, `field:asc` or `field:desc`; fields: " + ", ".join(SORT_FIELDS) + ".",
    )

    class Meta:
        model = AppAccess
        fields = ["publishedApplicationId", "applicationId", "email", "sort"]


class PublishedApplicationFilterSet(django_filters.FilterSet):
    """The filters of Applivery's published-application list that otpsite models, under their wire names."""

    application = PublicIdFilter(
        field_name="application_public_id", help_text="Only publications of this application (24 hex)."
    )
    slug = django_filters.CharFilter(
        field_name="slug", max_length=100, help_text="Only the publication with this slug."
    )
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices, help_text="active, inactive or unlisted.")

    class Meta:
        model = PublishedApplication
        fields = ["application", "slug", "visibility"]
