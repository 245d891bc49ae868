from django.db.models import Q
from django.utils.functional import cached_property
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from credentials import services
from credentials.card import InvalidTransition
from credentials.models import CardPolicy, OtpCard
from otpsite.api.authentication import ApiKeyBearerAuthentication, SelfAdminJwtAuthentication, SelfAdminToken
from otpsite.api.errors import SurfaceError
from otpsite.api.nevisidm import errors, serializers
from otpsite.api.permissions import caller_holds
from otpsite.api.schema import error_responses
from otpsite.api.scoping import scope_to_caller
from otpsite.api.views import SurfaceViewSet
from otpsite.middleware import client_ip
from otpusers.audit import Actor
from otpusers.choices import ActorType
from otpusers.models import ApiKey, OtpUser, identifier_condition, one_or_none
from otpusers.prepared import PreparedLookup

PATH_PARAMETERS = [
    OpenApiParameter("clientExtId", str, OpenApiParameter.PATH, description="External id of the client."),
    OpenApiParameter("userExtId", str, OpenApiParameter.PATH, description="External id of the user."),
]
EXT_ID = OpenApiParameter("extId", str, OpenApiParameter.PATH, description="External id of the OTP credential.")


def _errors(*codes: str) -> dict:
    return error_responses(
        serializers.NevisErrorSerializer,
        ((errors.ERRORS[code][0], f"`{code}` {errors.ERRORS[code][1]}") for code in codes),
    )


COMMON = ("errors.notAuthenticated", "errors.permissionDenied", "errors.noRecord")


def _key_card(shape, *, client: str, user: str, user_lowered: str, ext_id: str, organization_id: int):
    """What OtpCredentialViewSet.get_object asks for an API key's call, written out for PreparedLookup."""
    people = OtpUser.objects.filter(organization__ext_id=client, organization_id=organization_id).with_identifier(
        "ext_id", user, exact_case=True, lowered=user_lowered
    )
    return OtpCard.objects.filter(
        otp_user=people.as_one_id(), organization_id=organization_id, ext_id=ext_id, organization__ext_id=client
    ).select_related("policy", "otp_user", "organization")


# The card an API key names by path (the hot path of GET, PATCH, replace and DELETE), compiled once.
KEY_CARD = PreparedLookup(OtpCard, _key_card, client=str, user=str, user_lowered=str, ext_id=str, organization_id=int)


def _key_cards(shape, *, client: str, user: str, user_lowered: str, after: int, organization_id: int):
    """What OtpCredentialViewSet.list asks for an API key's call: the path user's cards after a position."""
    people = OtpUser.objects.filter(organization__ext_id=client, organization_id=organization_id).with_identifier(
        "ext_id", user, exact_case=True, lowered=user_lowered
    )
    return (
        OtpCard.objects.filter(otp_user=people.as_one_id(), organization_id=organization_id, id__gt=after)
        .select_related("policy", "otp_user", "organization")
        .order_by("id")
    )


# A page of the path user's cards for an API key (the list), compiled once per page size.
KEY_CARDS = PreparedLookup(
    OtpCard, _key_cards, ordered=True, client=str, user=str, user_lowered=str, after=int, organization_id=int
)


class NevisUserMixin:
    """Resolves the path's client and user within what the caller may see; anything else is errors.noRecord.
    A self-admin token may only name its own client and user."""

    # Session last: the first class gives the 401 challenge; staff signed in to the admin browse with CSRF.
    authentication_classes = [ApiKeyBearerAuthentication, SelfAdminJwtAuthentication, SessionAuthentication]
    error_envelope = errors.ENVELOPE
    lookup_value_regex = "[^/]+"

    def _valid(self, value) -> str:
        if not isinstance(value, str) or not serializers.EXT_ID_PATTERN.match(value):
            raise NotFound()
        return value

    def path_condition(self) -> Q:
        """The path's client and user, as a condition on the person, served by the unique indexes on the
        client's and the user's external ids. A self-admin token may only name its own client and user."""
        client, user = self._valid(self.kwargs.get("clientExtId")), self._valid(self.kwargs.get("userExtId"))
        if isinstance(self.request.auth, SelfAdminToken):
            if (self.request.auth.client_ext_id, self.request.auth.user_ext_id) != (client, user):
                raise PermissionDenied("A self-admin token acts only on its own user's credentials.")
        return Q(organization__ext_id=client) & identifier_condition("ext_id", user, exact_case=True)

    def scoped(self, queryset, organization_path: str):
        if isinstance(self.request.auth, SelfAdminToken):
            return queryset
        return scope_to_caller(queryset, self.request, organization_path)

    def people(self):
        """The path's person as a queryset (no query yet), for a service to find them with their card."""
        return self.scoped(OtpUser.objects.filter(self.path_condition()), "organization")

    def person_named(self):
        """The path's person for a card check: named by external ids for an API key (whose lookup the
        service has compiled once), else as people() names them."""
        if isinstance(self.request.auth, ApiKey):
            client, user = self._valid(self.kwargs.get("clientExtId")), self._valid(self.kwargs.get("userExtId"))
            return services.PersonByExtIds(client, user, self.request.auth.organization_id)
        return self.people()

    @cached_property
    def person(self) -> OtpUser:
        person = one_or_none(self.people().select_related("organization"))
        if person is None:
            raise NotFound()
        return person

    def require(self, name: str) -> None:
        if not caller_holds(self.request, name):
            raise PermissionDenied(f"This action requires the permission {name}.")

    def actor(self) -> Actor:
        if isinstance(self.request.auth, SelfAdminToken):
            return Actor(
                type=ActorType.PERSON,
                label=str(self.request.user),
                client_ip=client_ip(self.request),
                request_id=getattr(self.request, "request_id", ""),
            )
        return Actor.from_request(self.request)


def _version_conflict():
    return SurfaceError("errors.pessimisticLockingFailure")


@extend_schema_view(
    list=extend_schema(
        summary="List a user's OTP credentials",
        parameters=[*PATH_PARAMETERS, serializers.CredentialPageQuerySerializer],
        responses={200: serializers.OtpCredentialListSerializer, **_errors("errors.invalidData", *COMMON)},
    ),
    retrieve=extend_schema(
        summary="Get an OTP credential",
        description="Needs AccessControl.CredentialView, or a self-admin X-Token of this user. The answer "
        "carries the card (`otp`), so every call is audited as a read-back.",
        parameters=[*PATH_PARAMETERS, EXT_ID],
        responses={200: serializers.OtpCredentialSerializer, **_errors(*COMMON)},
    ),
    create=extend_schema(
        summary="Create an OTP credential",
        description="A new card from the policy; at most two cards per user that are not archived (422 "
        "errors.tooManyOTPCards). 201 with a Location header.",
        parameters=PATH_PARAMETERS,
        request=serializers.OtpCredentialCreateSerializer,
        responses={
            201: serializers.OtpCredentialSerializer,
            **_errors(
                "errors.invalidData",
                *COMMON,
                "errors.tooManyOTPCards",
                "errors.duplicateValue",
                "errors.missingReferenceData",
            ),
        },
    ),
    partial_update=extend_schema(
        summary="Update an OTP credential",
        description="State (along the transition table; a change of state also needs "
        "AccessControl.CredentialChangeState), validity and comment. `version` must be the one last read: "
        "otherwise 409 errors.pessimisticLockingFailure and nothing changes.",
        parameters=[*PATH_PARAMETERS, EXT_ID],
        request=serializers.OtpCredentialPatchSerializer,
        responses={
            200: serializers.OtpCredentialSerializer,
            **_errors("errors.invalidData", *COMMON, "errors.pessimisticLockingFailure", "errors.policyViolation"),
        },
    ),
    destroy=extend_schema(
        summary="Delete an OTP credential",
        parameters=[*PATH_PARAMETERS, EXT_ID],
        responses={204: None, **_errors(*COMMON)},
    ),
)
class OtpCredentialViewSet(NevisUserMixin, SurfaceViewSet):
    """nevisIDM core API: a user's OTP card credentials."""

    required_api_permissions = {
        "list": "AccessControl.CredentialView",
        "retrieve": "AccessControl.CredentialView",
        "create": (
            "AccessControl.CredentialCreate",
            "AccessControl.CredentialView",
            "AccessControl.PolicyConfigurationView",
        ),
        "partial_update": ("AccessControl.CredentialModify", "AccessControl.CredentialView"),
        "replace": ("AccessControl.CredentialModify", "AccessControl.CredentialView"),
        "destroy": "AccessControl.CredentialDelete",
    }
    # nevisIDM lets a user read, replace and delete their own card with an X-Token (the get, replace and
    # delete pages); listing, creating and changing state need an administrator's permissions.
    self_admin_actions = ("retrieve", "replace", "destroy")
    queryset = OtpCard.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = serializers.OtpCredentialSerializer
    lookup_url_kwarg = "extId"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        """The path user's cards, found with the user and client in one query (no query for the person
        first); the organization comes along for the audit."""
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        cards = OtpCard.objects.filter(otp_user=self.people().as_one_id())
        return self.scoped(cards, "organization").select_related("policy", "otp_user", "organization").order_by("id")

    def read_ahead(self, organization_id: int):
        """The card the path names (GET, PATCH, replace, DELETE), when the path's ids are well formed."""
        if self.action not in ("retrieve", "partial_update", "replace", "destroy"):
            return None
        ids = [self.kwargs.get(name) for name in ("clientExtId", "userExtId", self.lookup_url_kwarg)]
        if not all(isinstance(value, str) and serializers.EXT_ID_PATTERN.match(value) for value in ids):
            return None
        client, user, ext_id = ids
        return KEY_CARD.ahead(
            client=client, user=user, user_lowered=user.lower(), ext_id=ext_id, organization_id=organization_id
        )

    def get_object(self) -> OtpCard:
        ext_id = self._valid(self.kwargs.get(self.lookup_url_kwarg))
        # The card's external id is unique in its organization: that index finds it.
        if isinstance(self.request.auth, ApiKey):
            client, user = self._valid(self.kwargs.get("clientExtId")), self._valid(self.kwargs.get("userExtId"))
            card = KEY_CARD.one_or_none(
                ahead=self.ahead,
                client=client,
                user=user,
                user_lowered=user.lower(),
                ext_id=ext_id,
                organization_id=self.request.auth.organization_id,
            )
            if card is None:
                raise NotFound()
            return card
        card = one_or_none(self.get_queryset().filter(ext_id=ext_id, organization__ext_id=self.kwargs["clientExtId"]))
        if card is None:
            raise NotFound()
        return card

    def list(self, request, *args, **kwargs):
        page = serializers.CredentialPageQuerySerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        limit = page.validated_data.get("limit") or 100
        after = page.validated_data.get("after", 0)
        if isinstance(request.auth, ApiKey):
            client, user = self._valid(self.kwargs.get("clientExtId")), self._valid(self.kwargs.get("userExtId"))
            cards = KEY_CARDS.first(
                None,
                limit + 1,
                client=client,
                user=user,
                user_lowered=user.lower(),
                after=after,
                organization_id=request.auth.organization_id,
            )
        else:
            cards = list(self.get_queryset().filter(id__gt=after)[: limit + 1])
        if not cards:
            self.person  # noqa: B018 - an unknown user is errors.noRecord, a user with no card an empty page
        more = len(cards) > limit
        cards = cards[:limit]
        services.cards_audit_read(cards=cards, actor=self.actor())
        return Response(
            {
                "items": self.get_serializer(cards, many=True).data,
                "_pagination": {
                    "continuationToken": serializers.continuation_token(cards[-1].pk) if more else None,
                    "limit": limit,
                },
            }
        )

    def retrieve(self, request, *args, **kwargs):
        card = self.get_object()
        services.card_audit_read(card=card, actor=self.actor())
        return Response(self.get_serializer(card).data)

    def create(self, request, *args, **kwargs):
        body = serializers.OtpCredentialCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        policy = None
        if "policyExtId" in data:
            policy = one_or_none(
                CardPolicy.objects.filter(organization=self.person.organization, ext_id=data["policyExtId"])
            )
            if policy is None:
                raise SurfaceError("errors.missingReferenceData", f"no policy {data['policyExtId']!r}")
        try:
            card = services.card_create(
                person=self.person,
                ext_id=data.get("extId", ""),
                policy=policy,
                state=data["stateName"],
                actor=self.actor(),
            )
        except services.CardLimitReached:
            raise SurfaceError("errors.tooManyOTPCards") from None
        except services.DuplicateExtId:
            raise SurfaceError("errors.duplicateValue", f"extId {data['extId']!r}") from None
        response = Response(self.get_serializer(card).data, status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/')}/{card.ext_id}")
        return response

    def partial_update(self, request, *args, **kwargs):
        card = self.get_object()
        body = serializers.OtpCredentialPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "stateName" in data and data["stateName"] != card.effective_state():
            self.require("AccessControl.CredentialChangeState")
        validity = data.get("validity", {})
        dates = {
            name: validity[wire] for name, wire in (("valid_from", "from"), ("valid_to", "to")) if wire in validity
        }
        try:
            card = services.card_set_state(
                card=card,
                state=data.get("stateName"),
                reason=data.get("stateChangeReason", ""),
                detail=data.get("stateChangeDetail", ""),
                comment=data.get("modificationComment"),
                expected_version=data["version"],
                actor=self.actor(),
                **dates,
            )
        except services.StaleVersion:
            raise _version_conflict() from None
        except InvalidTransition as error:
            raise SurfaceError("errors.policyViolation", str(error)) from None
        return Response(self.get_serializer(card).data)

    @extend_schema(
        summary="Replace the OTP card's secret",
        description="A new grid; extId, policy and state stay. `version` must be the one last read. Needs "
        "AccessControl.CredentialModify and AccessControl.CredentialView, or a self-admin X-Token of this "
        "user (another user's token: 403).",
        parameters=[*PATH_PARAMETERS, EXT_ID],
        request=serializers.OtpCredentialReplaceSerializer,
        responses={
            200: serializers.OtpCredentialSerializer,
            **_errors("errors.invalidData", *COMMON, "errors.pessimisticLockingFailure"),
        },
    )
    @action(detail=True, methods=["post"])
    def replace(self, request, *args, **kwargs):
        card = self.get_object()
        body = serializers.OtpCredentialReplaceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            card = services.card_replace(
                card=card,
                comment=body.validated_data["modificationComment"],
                expected_version=body.validated_data["version"],
                actor=self.actor(),
            )
        except services.StaleVersion:
            raise _version_conflict() from None
        return Response(self.get_serializer(card).data)

    def destroy(self, request, *args, **kwargs):
        services.card_delete(card=self.get_object(), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class OtpAuthViewSet(NevisUserMixin, SurfaceViewSet):
    """nevisIDM auth API: challenge and login with the user's current OTP card."""

    required_api_permissions = {
        "challenge": "AccessControl.CredentialView",
        "login": ("AccessControl.CredentialView", "AccessControl.CredentialChangeState"),
    }
    serializer_class = serializers.ChallengeResponseSerializer

    def _refusals(self, call):
        try:
            return call()
        except services.NoCard:
            raise NotFound() from None
        except services.CardLocked:
            raise SurfaceError("errors.credentialLocked") from None
        except services.CardNotUsable:
            raise SurfaceError("errors.credentialNotActive") from None

    @extend_schema(
        summary="Generate an OTP challenge",
        description="Names an unused cell of the user's most recent card and stores it as the card's latest "
        "challenge; the cell is never challenged again. `challenge` is null when every cell has been used.",
        parameters=PATH_PARAMETERS,
        request=None,
        responses={
            200: serializers.ChallengeResponseSerializer,
            **_errors(*COMMON, "errors.credentialNotActive", "errors.credentialLocked"),
        },
    )
    def challenge(self, request, *args, **kwargs):
        card, challenge = self._refusals(
            lambda: services.card_challenge(person=self.person_named(), actor=self.actor())
        )
        return Response({"challenge": challenge, "status": card.effective_state()})

    @extend_schema(
        summary="Log in with an OTP card",
        description="200 whatever the answer, with `statusCode` as nevisIDM answers (0 success, 2 wrong "
        "answer, 3 no such challenge waiting: not counted). Wrong answers lock the card as its policy says; "
        "a locked card answers 423.",
        parameters=PATH_PARAMETERS,
        request=serializers.LoginSerializer,
        responses={
            200: serializers.LoginStatusSerializer,
            **_errors("errors.invalidData", *COMMON, "errors.credentialNotActive", "errors.credentialLocked"),
        },
    )
    def login(self, request, *args, **kwargs):
        body = serializers.LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = self._refusals(
            lambda: services.card_login(
                person=self.person_named(),
                challenge=data["challenge"],
                password=data["password"],
                update_login_info=data["updateLoginInfoOnSuccess"],
                actor=self.actor(),
            )
        )
        status_code, description = errors.LOGIN_STATUS[result.outcome.value]
        card = result.card
        # The latest failure on any of the user's cards: read with the card (before this answer), or this one.
        failures = [card.person_last_failed_login_at, card.last_failed_login_at]
        user_last_failure = max((failure for failure in failures if failure is not None), default=None)
        field = serializers.NevisDateTimeField()
        return Response(
            {
                "statusCode": status_code,
                "description": description,
                "userExtId": card.otp_user.ext_id,
                "clientExtId": card.organization.ext_id,
                "credentialExtId": card.ext_id,
                "credentialType": "OTP Card",
                "userLastLogin": field.to_representation(card.otp_user.last_login_at),
                "userLastLoginFailure": field.to_representation(user_last_failure),
                "credentialLastLogin": field.to_representation(card.last_successful_login_at),
                "credentialLastLoginFailure": field.to_representation(card.last_failed_login_at),
                "successfulLoginCount": card.successful_login_count,
                "failedLoginCount": card.failed_login_count,
            }
        )
