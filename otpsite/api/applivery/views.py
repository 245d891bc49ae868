from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from otpsite.api.applivery import errors, serializers
from otpsite.api.pagination import MongoosePagination
from otpsite.api.scoping import scope_to_caller
from otpusers import services
from otpusers.audit import Actor
from otpusers.filtersets import AppAccessFilterSet
from otpusers.ids import normalize_public_id
from otpusers.models import AppAccess, PublishedApplication, Store

ERROR_RESPONSES = {
    status: OpenApiResponse(serializers.AppliveryErrorResponseSerializer, description=description)
    for status, description in {
        400: "6001 Database Validation Error: `error.data` names each field at fault.",
        401: "4002 Token not valid: no API key, or one that is unknown, expired or revoked.",
        403: "4003 Permission denied: the key lacks the documented permission.",
        404: "3001 Entity not found: unknown or malformed ids, or another organization's or store's object.",
    }.items()
}
PATH_PARAMETERS = [
    OpenApiParameter("organizationSlug", str, OpenApiParameter.PATH, description="The organization's slug."),
    OpenApiParameter("storeId", str, OpenApiParameter.PATH, pattern="^[a-fA-F0-9]{24}$"),
]
OTP_USER_ID = OpenApiParameter("otpUserId", str, OpenApiParameter.PATH, pattern="^[a-fA-F0-9]{24}$")


def _responses(success, *errors_shown: int) -> dict:
    return {200: success, **{status: ERROR_RESPONSES[status] for status in errors_shown}}


@extend_schema_view(
    list=extend_schema(
        summary="List OTP users with optional filtering",
        parameters=PATH_PARAMETERS,
        responses=_responses(serializers.OtpUserListResponseSerializer, 400, 401, 403, 404),
    ),
    create=extend_schema(
        summary="Create one or more OTP users",
        description="All or nothing: when any email cannot be given access, none is. Answers 200 with "
        "`data` as a list, even for one email. A well-formed publishedApplicationId that is not in this "
        "store answers 404 3001.",
        parameters=PATH_PARAMETERS,
        request=serializers.OtpUserCreateSerializer,
        responses=_responses(serializers.OtpUserCreateResponseSerializer, 400, 401, 403, 404),
    ),
    retrieve=extend_schema(
        summary="Retrieve a single OTP user by identifier",
        parameters=[*PATH_PARAMETERS, OTP_USER_ID],
        responses=_responses(serializers.OtpUserResponseSerializer, 401, 403, 404),
    ),
    update=extend_schema(
        summary="Update an existing OTP user configuration",
        parameters=[*PATH_PARAMETERS, OTP_USER_ID],
        request=serializers.OtpUserUpdateSerializer,
        responses=_responses(serializers.OtpUserResponseSerializer, 400, 401, 403, 404),
    ),
    destroy=extend_schema(
        summary="Delete an OTP user from the store",
        description="Removes the person's access to the published application; `data.delete` is true.",
        parameters=[*PATH_PARAMETERS, OTP_USER_ID],
        responses=_responses(serializers.OtpUserDeleteResponseSerializer, 401, 403, 404),
    ),
)
class OtpUserViewSet(viewsets.GenericViewSet):
    """Applivery's OTP users of a store: each is one person's access to one published application."""

    error_envelope = errors.ENVELOPE
    required_api_permissions = {
        "list": "mad.store.otpUsers.list",
        "create": "mad.store.otpUsers.create",
        "retrieve": "mad.store.otpUsers.get",
        "update": "mad.store.otpUsers.update",
        "destroy": "mad.store.otpUsers.remove",
    }
    queryset = AppAccess.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = serializers.OtpUserSerializer
    filterset_class = AppAccessFilterSet
    pagination_class = MongoosePagination
    lookup_url_kwarg = "otpUserId"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    @cached_property
    def store(self) -> Store:
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if store_id is None:
            raise NotFound()
        stores = Store.objects.select_related("organization").filter(
            organization__slug=self.kwargs.get("organizationSlug"), public_id=store_id
        )
        store = scope_to_caller(stores, self.request, "organization").first()
        if store is None:
            raise NotFound()
        return store

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return (
            AppAccess.objects.filter(published_application__store=self.store)
            .select_related("otp_user", "published_application__store__organization")
            .order_by("-created_at", "-id")
        )

    def get_object(self) -> AppAccess:
        """The OTP user named by the path, found with its store and organization in one query."""
        access_id = normalize_public_id(self.kwargs.get(self.lookup_url_kwarg))
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if access_id is None or store_id is None:
            raise NotFound()
        accesses = AppAccess.objects.select_related("otp_user", "published_application__store__organization").filter(
            public_id=access_id,
            published_application__store__public_id=store_id,
            published_application__store__organization__slug=self.kwargs.get("organizationSlug"),
        )
        access = scope_to_caller(accesses, self.request, "published_application__store__organization").first()
        if access is None:
            raise NotFound()
        return access

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        items = self.get_serializer(page, many=True).data
        return Response({"status": True, "data": self.paginator.get_paginated_response_data(items)})

    def create(self, request, *args, **kwargs):
        body = serializers.OtpUserCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        published_application = (
            PublishedApplication.objects.filter(
                store=self.store, public_id=body.validated_data["publishedApplicationId"]
            )
            .select_related("store__organization")
            .first()
        )
        if published_application is None:
            raise NotFound()
        accesses = services.app_access_create_for_emails(
            published_application=published_application,
            emails=body.validated_data["email"],
            allowed_downloads_num=body.validated_data["allowedDownloadsNum"],
            actor=Actor.from_request(request),
        )
        return Response({"status": True, "data": self.get_serializer(accesses, many=True).data})

    def retrieve(self, request, *args, **kwargs):
        return Response({"status": True, "data": self.get_serializer(self.get_object()).data})

    def update(self, request, *args, **kwargs):
        access = self.get_object()
        body = serializers.OtpUserUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "allowedDownloadsNum" in body.validated_data:
            access = services.app_access_update(
                access=access,
                allowed_downloads_num=body.validated_data["allowedDownloadsNum"],
                actor=Actor.from_request(request),
            )
        return Response({"status": True, "data": self.get_serializer(access).data})

    def destroy(self, request, *args, **kwargs):
        services.app_access_delete(access=self.get_object(), actor=Actor.from_request(request))
        return Response({"status": True, "data": {"delete": True}})
