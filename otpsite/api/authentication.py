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
    """The client limits around an authenticator: an address with too many failed authentications is
    refused (429) before any credential is checked, each failure counts against it, and each request made
    with an API key counts against the key's requests per minute."""

    @functools.wraps(authenticate)
    def guarded(self, request):
        address = client_ip(request)
        try:
            limits.refuse_blocked_address(address)
            result = authenticate(self, request)
            if result is not None and isinstance(result[1], ApiKey):
                limits.api_key_request(key_id=result[1].key_id, per_minute=result[1].requests_per_minute)
        except limits.LimitExceeded as exceeded:
            raise Throttled(wait=exceeded.retry_after) from None
        except AuthenticationFailed:
            limits.record_failed_authentication(address)
            raise
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
