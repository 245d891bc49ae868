from django.db.models import BigIntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from otpsite.api.applivery import errors, serializers
from otpsite.api.pagination import MongoosePagination
from otpsite.api.scoping import scope_to_caller
from otpsite.api.views import SurfaceViewSet, storable
from otpusers import services
from otpusers.audit import Actor
from otpusers.filtersets import AppAccessFilterSet, PublishedApplicationFilterSet
from otpusers.ids import normalize_public_id
from otpusers.models import ApiKey, AppAccess, Organization, PublishedApplication, Store, one_or_none
from otpusers.prepared import PreparedLookup, ReadAhead

ERROR_RESPONSES = {
    status: OpenApiResponse(serializers.AppliveryErrorResponseSerializer, description=description)
    for status, description in {
        400: "6001 Database Validation Error: `error.data` names each field at fault.",
        401: "4002 Token not valid: no API key, or one that is unknown, expired or revoked.",
        403: "4003 Permission denied: the key lacks the documented permission.",
        404: "3001 Entity not found: unknown or malformed ids, or another organization's or store's object.",
    }.items()
}
# Applivery's workspace paths take an organization by its 24-hex id or its slug.
ORGANIZATION_PATTERN = r"^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))$"
ORGANIZATION_DESCRIPTION = (
    "The organization's 24-hex id (organizationId) or its slug: 24 hexadecimal characters are read as the id."
)
STORE_ID = OpenApiParameter("storeId", str, OpenApiParameter.PATH, pattern="^[a-fA-F0-9]{24}$")
PATH_PARAMETERS = [
    OpenApiParameter(
        "organizationSlug",
        str,
        OpenApiParameter.PATH,
        pattern=ORGANIZATION_PATTERN,
        description=ORGANIZATION_DESCRIPTION,
    ),
    STORE_ID,
]
WORKSPACE_ORGANIZATION = OpenApiParameter(
    "organizationId", str, OpenApiParameter.PATH, pattern=ORGANIZATION_PATTERN, description=ORGANIZATION_DESCRIPTION
)
SORT = OpenApiParameter(
    "sort",
    str,
    enum=["", *(f"{name}{order}" for name in AppAccessFilterSet.SORT_FIELDS for order in ("", ":asc", ":desc"))],
    description="`field`, `field:asc` or `field:desc`; newest first when absent.",
)
OTP_USER_ID = OpenApiParameter("otpUserId", str, OpenApiParameter.PATH, pattern="^[a-fA-F0-9]{24}$")
PUBLISHED_APPLICATION_ID = OpenApiParameter(
    "publishedApplicationId", str, OpenApiParameter.PATH, pattern="^[a-fA-F0-9]{24}$"
)


def organization_reference(value: object) -> tuple[str, str] | None:
    """How the URL names its organization: ("public_id", the 24-hex id) or ("slug", the slug); None for
    anything that can name none."""
    public_id = normalize_public_id(value)
    if public_id is not None:
        return "public_id", public_id
    if isinstance(value, str) and len(value) >= 3:
        return "slug", value
    return None


def organization_named(value: object, path: str) -> Q:
    """The condition that `path` (a lookup leading to an Organization, "" for organizations themselves) is
    the organization the URL names, by 24-hex id or by slug. Either way a unique index finds it; anything
    else matches nothing."""
    reference = organization_reference(value)
    if reference is None:
        return Q(pk__in=[])
    column, named = reference
    return Q(**{f"{path}__{column}" if path else column: named})


def _key_access(column: str, *, organization: str, access_id: str, store_id: str, organization_id: int):
    return AppAccess.objects.select_related("otp_user", "published_application__store__organization").filter(
        **{f"published_application__store__organization__{column}": organization},
        public_id=access_id,
        published_application__store__public_id=store_id,
        published_application__store__organization_id=organization_id,
    )


# The OTP user an API key names by path: what get_object below asks, compiled once (the hot path of GET,
# PUT and DELETE). The shape is the column the path's organization is named by.
KEY_ACCESS = PreparedLookup(AppAccess, _key_access, organization=str, access_id=str, store_id=str, organization_id=int)


def _key_publication(column: str, *, organization: str, publication_id: str, store_id: str, organization_id: int):
    return PublishedApplication.objects.select_related("store__organization").filter(
        **{f"store__organization__{column}": organization},
        public_id=publication_id,
        store__public_id=store_id,
        store__organization_id=organization_id,
    )


# A published application an API key names by path (the retrieve below), compiled once, as KEY_ACCESS.
KEY_PUBLICATION = PreparedLookup(
    PublishedApplication,
    _key_publication,
    organization=str,
    publication_id=str,
    store_id=str,
    organization_id=int,
)


def _key_store(column: str, *, organization: str, store_id: str, organization_id: int):
    return Store.objects.select_related("organization").filter(
        **{f"organization__{column}": organization}, public_id=store_id, organization_id=organization_id
    )


def _key_store_counted(column: str, **ids):
    return _key_store(column, **ids).annotate(counted_total=_all_accesses_counted())


def _all_accesses_counted():
    """A store's OTP users in all, from its publications' exact counters (PublishedApplication.access_count)."""
    applications = PublishedApplication.objects.filter(store=OuterRef("pk"))
    total = applications.order_by().values("store").annotate(total=Sum("access_count")).values("total")
    return Coalesce(Subquery(total), 0)


# The OTP-user list's filters that narrow it (sort does not): without them, the store's counters give its total.
NARROWING_FILTERS = {"publishedApplicationId", "applicationId", "email"}

# The store an API key names by path, compiled once as KEY_ACCESS: for the publications' list, and with its
# OTP users counted for their unfiltered list.
KEY_STORE = PreparedLookup(Store, _key_store, organization=str, store_id=str, organization_id=int)
KEY_STORE_COUNTED = PreparedLookup(Store, _key_store_counted, organization=str, store_id=str, organization_id=int)


def named_for_key(request, lookup: PreparedLookup, organization: object, ahead: ReadAhead | None = None, **ids: str):
    """For an API key's call, the object the path names, through `lookup` (compiled once) within the key's
    organization, and 404 when there is none; None for any other caller (or a path naming no organization),
    whose view then asks its own queryset. The row read `ahead` (named_ahead) is used when it is that
    lookup's."""
    reference = organization_reference(organization)
    if not isinstance(request.auth, ApiKey) or reference is None:
        return None
    column, named = reference
    found = lookup.one_or_none(
        column, ahead=ahead, organization=named, organization_id=request.auth.organization_id, **ids
    )
    if found is None:
        raise NotFound()
    return found


def named_ahead(lookup: PreparedLookup, organization: object, organization_id: int, **ids: str | None):
    """named_for_key's lookup, to be read ahead (SurfaceViewSet.read_ahead); None when the path names nothing."""
    reference = organization_reference(organization)
    if reference is None or not storable(reference[1]) or None in ids.values():
        return None
    column, named = reference
    return lookup.ahead(column, organization=named, organization_id=organization_id, **ids)


def one_or_404(queryset):
    """The one object of a lookup by unique keys, without the model's ordering; else 404 3001."""
    try:
        return queryset.get()
    except queryset.model.DoesNotExist:
        raise NotFound() from None


def refuse_unknown_parameters(request, known: set[str]) -> None:
    """Applivery's read-only lists take only the documented query parameters otpsite models; any other
    (a documented filter otpsite does not model, or a typo) is refused rather than silently ignored."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ValidationError({name: ["Unknown or unsupported query parameter."] for name in unknown})


def _responses(success, *errors_shown: int) -> dict:
    return {200: success, **{status: ERROR_RESPONSES[status] for status in errors_shown}}


@extend_schema_view(
    list=extend_schema(
        summary="List OTP users with optional filtering",
        description="Newest first unless `sort` says otherwise. `totalDocs` is exact: unfiltered, or filtered "
        "by `publishedApplicationId` alone, it comes from each publication's count of OTP users, which the "
        "database keeps in the same transaction as every create and delete; with `applicationId` or `email` "
        "the matches are counted.",
        parameters=[*PATH_PARAMETERS, SORT],
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
class OtpUserViewSet(SurfaceViewSet):
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

    def _unfiltered_list(self) -> bool:
        return self.action == "list" and not set(self.request.query_params) & NARROWING_FILTERS

    @cached_property
    def store(self) -> Store:
        """The path's store, read with the list's total when the list can take it from the counters."""
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if store_id is None:
            raise NotFound()
        if self._unfiltered_list():
            store = named_for_key(
                self.request, KEY_STORE_COUNTED, self.kwargs.get("organizationSlug"), self.ahead, store_id=store_id
            )
            if store is not None:
                return store
        stores = Store.objects.select_related("organization").filter(
            organization_named(self.kwargs.get("organizationSlug"), "organization"), public_id=store_id
        )
        if self.action == "list":
            stores = stores.annotate(counted_total=self._counted_total())
        store = one_or_none(scope_to_caller(stores, self.request, "organization"))
        if store is None:
            raise NotFound()
        return store

    def _counted_total(self):
        """The list's totalDocs from the publications' exact counters (PublishedApplication.access_count)
        when the list is filtered by nothing but, at most, one publication; otherwise None, and the list
        counts its matches."""
        filters = set(self.request.query_params) & NARROWING_FILTERS
        applications = PublishedApplication.objects.filter(store=OuterRef("pk"))
        if not filters:
            return _all_accesses_counted()
        published_application_id = normalize_public_id(self.request.query_params.get("publishedApplicationId"))
        if filters == {"publishedApplicationId"} and published_application_id is not None:
            one = applications.filter(public_id=published_application_id).values("access_count")
            return Coalesce(Subquery(one), 0)
        return Value(None, output_field=BigIntegerField())

    def known_total(self) -> int | None:
        return self.store.counted_total

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        # store_id (copied from the publication) puts a store's page on one index, newest first.
        return (
            AppAccess.objects.filter(store=self.store)
            .select_related("otp_user", "published_application__store__organization")
            .order_by("-created_at", "-id")
        )

    def read_ahead(self, organization_id: int):
        """The OTP user the path names (GET, PUT, DELETE); the store, counted, for an unfiltered list."""
        if self._unfiltered_list():
            return named_ahead(
                KEY_STORE_COUNTED,
                self.kwargs.get("organizationSlug"),
                organization_id,
                store_id=normalize_public_id(self.kwargs.get("storeId")),
            )
        if self.action not in ("retrieve", "update", "destroy"):
            return None
        return named_ahead(
            KEY_ACCESS,
            self.kwargs.get("organizationSlug"),
            organization_id,
            access_id=normalize_public_id(self.kwargs.get(self.lookup_url_kwarg)),
            store_id=normalize_public_id(self.kwargs.get("storeId")),
        )

    def get_object(self) -> AppAccess:
        """The OTP user named by the path, found with its store and organization in one query."""
        access_id = normalize_public_id(self.kwargs.get(self.lookup_url_kwarg))
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if access_id is None or store_id is None:
            raise NotFound()
        access = named_for_key(
            self.request,
            KEY_ACCESS,
            self.kwargs.get("organizationSlug"),
            ahead=self.ahead,
            access_id=access_id,
            store_id=store_id,
        )
        if access is not None:
            return access
        accesses = AppAccess.objects.select_related("otp_user", "published_application__store__organization").filter(
            organization_named(self.kwargs.get("organizationSlug"), "published_application__store__organization"),
            public_id=access_id,
            published_application__store__public_id=store_id,
        )
        access = one_or_none(scope_to_caller(accesses, self.request, "published_application__store__organization"))
        if access is None:
            raise NotFound()
        return access

    def list(self, request, *args, **kwargs):
        rows = self.filter_queryset(self.get_queryset()).values(*serializers.OtpUserSerializer.LIST_COLUMNS)
        page = self.paginate_queryset(rows)
        items = [serializers.OtpUserSerializer.from_row(row, store=self.store) for row in page]
        return Response({"status": True, "data": self.paginator.get_paginated_response_data(items)})

    def create(self, request, *args, **kwargs):
        body = serializers.OtpUserCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # The publication with its store and organization in one query, found through the path's store.
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        applications = PublishedApplication.objects.select_related("store__organization").filter(
            organization_named(self.kwargs.get("organizationSlug"), "store__organization"),
            public_id=body.validated_data["publishedApplicationId"],
            store__public_id=store_id,
        )
        published_application = one_or_none(scope_to_caller(applications, request, "store__organization"))
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


@extend_schema_view(
    list=extend_schema(
        summary="List organization stores",
        description="Read-only. The organization's stores, oldest first, paginated like every Applivery list. "
        "Fields are the documented ones otpsite models.",
        parameters=[WORKSPACE_ORGANIZATION],
        responses=_responses(serializers.StoreListResponseSerializer, 400, 401, 403, 404),
    ),
)
class StoreViewSet(SurfaceViewSet):
    """Applivery's workspace stores: where an integrator finds a storeId."""

    error_envelope = errors.ENVELOPE
    required_api_permissions = {"list": "mad.store.management.list"}
    queryset = Store.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = serializers.StoreSerializer
    pagination_class = MongoosePagination
    filter_backends: list = []
    http_method_names = ["get", "head", "options"]

    @cached_property
    def organization(self) -> Organization:
        organizations = Organization.objects.filter(organization_named(self.kwargs.get("organizationId"), ""))
        return one_or_404(scope_to_caller(organizations, self.request, ""))

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return Store.objects.filter(organization=self.organization).order_by("id")

    def list(self, request, *args, **kwargs):
        refuse_unknown_parameters(request, {"page", "limit"})
        page = self.paginate_queryset(self.get_queryset())
        for store in page:
            store.organization = self.organization  # one organization for the page, not one query per row
        items = self.get_serializer(page, many=True).data
        return Response({"status": True, "data": self.paginator.get_paginated_response_data(items)})


@extend_schema_view(
    list=extend_schema(
        summary="List published applications with filtering and pagination",
        description="Read-only. The store's published applications in slug order, paginated like every "
        "Applivery list and filtered by `application`, `slug` and `visibility`; Applivery's other filters "
        "(security, filter type, build, user audience) are not modelled by otpsite and answer 400 6001.",
        parameters=[WORKSPACE_ORGANIZATION, STORE_ID],
        responses=_responses(serializers.PublishedApplicationListResponseSerializer, 400, 401, 403, 404),
    ),
    retrieve=extend_schema(
        summary="Retrieve published application details",
        parameters=[WORKSPACE_ORGANIZATION, STORE_ID, PUBLISHED_APPLICATION_ID],
        responses=_responses(serializers.PublishedApplicationResponseSerializer, 401, 403, 404),
    ),
)
class PublishedApplicationViewSet(SurfaceViewSet):
    """Applivery's published applications of a store: where an integrator finds a publishedApplicationId."""

    error_envelope = errors.ENVELOPE
    required_api_permissions = {
        "list": "mad.store.publishedApplication.list",
        "retrieve": "mad.store.publishedApplication.get",
    }
    queryset = PublishedApplication.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = serializers.PublishedApplicationSerializer
    filterset_class = PublishedApplicationFilterSet
    pagination_class = MongoosePagination
    lookup_url_kwarg = "publishedApplicationId"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "head", "options"]

    def _in_path(self):
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if store_id is None:
            raise NotFound()
        publications = PublishedApplication.objects.filter(
            organization_named(self.kwargs.get("organizationId"), "store__organization"), store__public_id=store_id
        )
        return scope_to_caller(publications, self.request, "store__organization")

    @cached_property
    def store(self) -> Store:
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if store_id is None:
            raise NotFound()
        store = named_for_key(self.request, KEY_STORE, self.kwargs.get("organizationId"), self.ahead, store_id=store_id)
        if store is not None:
            return store
        stores = Store.objects.select_related("organization").filter(
            organization_named(self.kwargs.get("organizationId"), "organization"), public_id=store_id
        )
        return one_or_404(scope_to_caller(stores, self.request, "organization"))

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return PublishedApplication.objects.filter(store=self.store).order_by("slug")

    def list(self, request, *args, **kwargs):
        refuse_unknown_parameters(request, {"page", "limit", *PublishedApplicationFilterSet.base_filters})
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        for publication in page:
            publication.store = self.store  # one store for the page, not one query per row
        items = self.get_serializer(page, many=True).data
        return Response({"status": True, "data": self.paginator.get_paginated_response_data(items)})

    def read_ahead(self, organization_id: int):
        """The published application the path names (GET); the path's store for the list."""
        if self.action == "list":
            return named_ahead(
                KEY_STORE,
                self.kwargs.get("organizationId"),
                organization_id,
                store_id=normalize_public_id(self.kwargs.get("storeId")),
            )
        if self.action != "retrieve":
            return None
        return named_ahead(
            KEY_PUBLICATION,
            self.kwargs.get("organizationId"),
            organization_id,
            publication_id=normalize_public_id(self.kwargs.get(self.lookup_url_kwarg)),
            store_id=normalize_public_id(self.kwargs.get("storeId")),
        )

    def retrieve(self, request, *args, **kwargs):
        publication_id = normalize_public_id(self.kwargs.get(self.lookup_url_kwarg))
        if publication_id is None:
            raise NotFound()
        store_id = normalize_public_id(self.kwargs.get("storeId"))
        if store_id is None:
            raise NotFound()
        organization = self.kwargs.get("organizationId")
        ids = {"publication_id": publication_id, "store_id": store_id}
        publication = named_for_key(request, KEY_PUBLICATION, organization, ahead=self.ahead, **ids)
        if publication is None:
            publication = one_or_404(
                self._in_path().select_related("store__organization").filter(public_id=publication_id)
            )
        return Response({"status": True, "data": self.get_serializer(publication).data})
