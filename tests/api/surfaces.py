"""One organization with a real object behind every path of every surface, and a client per surface holding
every permission, for the tests that go over all operations at once (hostile input, schemathesis)."""

import base64
import hashlib
from dataclasses import dataclass

from rest_framework.test import APIClient

from credentials import services
from otpusers.audit import Actor
from otpusers.registry import API_PERMISSIONS
from tests.factories import AppAccessFactory, OrganizationFactory, OtpUserFactory, make_api_key


@dataclass
class World:
    organization: object
    person: object
    access: object
    card: object
    bearer: str
    basic: str
    capillary_basic: str

    @property
    def store(self):
        return self.access.published_application.store

    def authorization(self, path: str) -> str:
        """The Authorization header each surface's clients send."""
        if path.startswith(("/v2/", "/v3/")):
            return self.capillary_basic
        if path.startswith("/manage/"):
            return self.basic
        return self.bearer

    def client(self, path: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=self.authorization(path))
        return client

    @property
    def applivery(self) -> str:
        return f"/v1/organizations/{self.organization.slug}/stores/{self.store.public_id}/otp-users"

    @property
    def nevis_core(self) -> str:
        return f"/nevisidm/api/core/v1/{self.organization.ext_id}/users/{self.person.ext_id}/otp-credentials"

    @property
    def nevis_auth(self) -> str:
        return f"/nevisidm/api/auth/v1/{self.organization.ext_id}/users/{self.person.ext_id}/otp"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# Fixed, so that a schema test can name them before the objects exist.
PATH_PARAMETERS = {
    "organizationSlug": "acme",
    "storeId": "65f1c0ffee0ddba11ca7f00d",
    "otpUserId": "65f1c0ffee0ddba11ca7f0aa",
    "organizationId": "acme",
    "publishedApplicationId": "65f1c0ffee0ddba11ca7f0bb",
    "clientExtId": "client-1",
    "userExtId": "user-1",
    "extId": "card-1",
}


def build_world() -> World:
    organization = OrganizationFactory(
        slug=PATH_PARAMETERS["organizationSlug"],
        ext_id=PATH_PARAMETERS["clientExtId"],
        code_read_back_allowed=True,
        resend_cooldown_seconds=0,
    )
    person = OtpUserFactory(
        organization=organization,
        mobile="+491500000001",
        user_name="jane",
        ext_id=PATH_PARAMETERS["userExtId"],
        email="jane@example.com",
    )
    access = AppAccessFactory(
        public_id=PATH_PARAMETERS["otpUserId"],
        published_application__store__organization=organization,
        published_application__store__public_id=PATH_PARAMETERS["storeId"],
        published_application__public_id=PATH_PARAMETERS["publishedApplicationId"],
        otp_user=person,
    )
    card = services.card_create(person=person, ext_id=PATH_PARAMETERS["extId"], actor=Actor.system("tests"))
    api_key, token = make_api_key(organization, *API_PERMISSIONS)
    secret = token.split(".", 1)[1]
    return World(
        organization=organization,
        person=person,
        access=access,
        card=card,
        bearer=f"Bearer {token}",
        basic=basic(api_key.key_id, secret),
        capillary_basic=basic(api_key.key_id, hashlib.md5(secret.encode()).hexdigest()),
    )
