import base64
import binascii
import functools
from dataclasses import dataclass

import jwt
from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from otpsite import limits
from otpsite.middleware import client_ip
from otpusers import services
from otpusers.models import ApiKey


def client_limited(authenticate):
    """The client limits around an authenticator, decided once the credentials are known: a request
    without credentials for this authenticator costs nothing; a failed authentication counts against the
    address (one UPSERT) and answers 429 once the address is over its limit; an accepted one costs one
    statement (limits.authenticated_request: the API key's request counted, the address's failures read)
    and answers 429 when the address is blocked or the key over its requests per minute. Decided once per
    request, however many authenticators the view chains.

    The same statement makes the view's read ahead (SurfaceViewSet.read_ahead), when it has one, and reads
    the API key's stamp: a key this process remembered (otpusers.services' API-key
    cache) that was rotated, revoked or changed elsewhere since is authenticated again from the database,
    so another process's change is refused on the next request, not when the cache entry ages out."""

    @functools.wraps(authenticate)
    def guarded(self, request):
        memo = getattr(request, "_request", request)
        decided = getattr(memo, "client_limits_decided", None)
        if decided is not None:
            raise decided
        address = client_ip(request)
        try:
            result = authenticate(self, request)
            if result is None or getattr(memo, "client_limits_passed", False):
                return result
            api_key = result[1] if isinstance(result[1], ApiKey) else None
            read_ahead = getattr(memo, "read_ahead", None)
            ahead = read_ahead(api_key.organization_id) if api_key and read_ahead else None
            stamp = limits.authenticated_request(
                client_ip=address,
                key_id=api_key.key_id if api_key else None,
                per_minute=api_key.requests_per_minute if api_key else None,
                also_read=services.api_key_stamp_query(api_key.key_id) if api_key else None,
                ahead=ahead,
            )
            if api_key and stamp is not limits.NOT_READ and not services.api_key_still_current(api_key, stamp):
                if ahead is not None:
                    ahead.ran = False  # read for a key that changed since: the service reads again
                result = authenticate(self, request)
        except AuthenticationFailed as failed:
            memo.client_limits_decided = failed
            try:
                limits.failed_authentication(address)
            except limits.LimitExceeded as exceeded:
                memo.client_limits_decided = Throttled(wait=exceeded.retry_after)
            raise memo.client_limits_decided from None
        except limits.LimitExceeded as exceeded:
            memo.client_limits_decided = Throttled(wait=exceeded.retry_after)
            raise memo.client_limits_decided from None
        memo.client_limits_passed = True
        return result

    return guarded


class Principal:
    """What `request.user` is for a caller that is not a Django user: authenticated, never staff, holding
    no Django permission (its rights are the documented names the permission class checks)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def has_perm(self, perm: str, obj=None) -> bool:
        return False


class ApiKeyPrincipal(Principal):
    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.name}"


class ApiKeyBearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key id>.<secret>`, as Applivery clients send their token."""

    keyword = b"bearer"

    @client_limited
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("The Authorization header must be 'Bearer <API key>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The API key is not valid.") from None
        key_id, _, secret = token.partition(".")
        api_key = services.api_key_authenticate(key_id=key_id, secret=secret)
        if api_key is None:
            raise AuthenticationFailed("The API key is not valid, or it has expired or been revoked.")
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="otpsite"'


class ApiKeyBasicAuthentication(BaseAuthentication):
    """HTTP Basic with the key id as user name and the secret as password (the manage surface)."""

    md5_of_secret = False

    @client_limited
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        try:
            if len(parts) != 2:
                raise ValueError
            key_id, separator, password = base64.b64decode(parts[1], validate=True).decode("ascii").partition(":")
            if not separator:
                raise ValueError
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise AuthenticationFailed(
                "The Authorization header must be 'Basic base64(<key id>:<password>)'."
            ) from None
        api_key = services.api_key_authenticate(key_id=key_id, secret=password, md5_of_secret=self.md5_of_secret)
        if api_key is None:
            raise AuthenticationFailed("The API key is not valid, or it has expired or been revoked.")
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Basic realm="otpsite"'


class ApiKeyMd5BasicAuthentication(ApiKeyBasicAuthentication):
    """HTTP Basic with the key id as user name and the MD5 hex of the secret as password, as Capillary
    clients send their till credentials."""

    md5_of_secret = True


@dataclass(frozen=True)
class SelfAdminToken:
    """A person acting on their own credentials (nevisIDM self-admin): the token's client and user."""

    client_ext_id: str
    user_ext_id: str


class SelfAdminPrincipal(Principal):
    def __init__(self, token: SelfAdminToken):
        self.token = token

    def __str__(self) -> str:
        return f"self-admin {self.token.user_ext_id}@{self.token.client_ext_id}"


class SelfAdminJwtAuthentication(BaseAuthentication):
    """nevisIDM self-admin: a JWT in the X-Token header, signed with OTPSITE_SELF_ADMIN_JWT_KEY (HS256),
    whose `sub` is the user's external id and `client` the client's. `exp` is required."""

    @client_limited
    def authenticate(self, request):
        token = request.headers.get("X-Token")
        if not token:
            return None
        if not settings.OTPSITE_SELF_ADMIN_JWT_KEY:
            raise AuthenticationFailed("Self-admin tokens are not enabled on this server.")
        try:
            claims = jwt.decode(
                token,
                settings.OTPSITE_SELF_ADMIN_JWT_KEY,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "client"]},
                leeway=settings.OTPSITE_SELF_ADMIN_JWT_LEEWAY,
            )
        except jwt.InvalidTokenError as error:
            raise AuthenticationFailed(f"The X-Token is not valid: {error}") from None
        if not isinstance(claims["sub"], str) or not isinstance(claims["client"], str):
            raise AuthenticationFailed("The X-Token's sub and client must be strings.")
        self_admin = SelfAdminToken(client_ext_id=claims["client"], user_ext_id=claims["sub"])
        return SelfAdminPrincipal(self_admin), self_admin

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="otpsite"'


class CapillaryOAuthTokenAuthentication(BaseAuthentication):
    """Capillary OAuth: the access token from `POST /v3/oauth/token/generate` in X-CAP-API-OAUTH-TOKEN. It
    stands for the API key it was made from, with that key's permission names as they are now."""

    header = "X-CAP-API-OAUTH-TOKEN"

    @client_limited
    def authenticate(self, request):
        token = request.headers.get(self.header)
        if not token:
            return None
        try:
            api_key = services.api_key_oauth_authenticate(
                token=token,
                client_ip=client_ip(request),
                request_id=getattr(request, "request_id", ""),
            )
        except services.OAuthDisabled:
            raise AuthenticationFailed("OAuth tokens are not enabled on this server.") from None
        if api_key is None:
            raise AuthenticationFailed("The OAuth token is not valid, has expired, or its API key is no longer usable.")
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="otpsite"'
