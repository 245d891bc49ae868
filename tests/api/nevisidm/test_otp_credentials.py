"""The nevisIDM OTP-card surface (shared/seeds/004, reference/nevisidm.md): the DTO, the permission names
and self-admin tokens, version conflicts, and challenge and login."""

import re
import time

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from credentials import card as card_maths
from credentials import services
from credentials.choices import CardState
from credentials.models import OtpCard
from otpusers.models import AuditEvent
from tests.credentials.card_helpers import ACTOR, answer_for, card_holder, wrong_answer_for
from tests.factories import OtpUserFactory, make_api_key

pytestmark = pytest.mark.django_db

VIEW = "AccessControl.CredentialView"
CREATE = "AccessControl.CredentialCreate"
MODIFY = "AccessControl.CredentialModify"
DELETE = "AccessControl.CredentialDelete"
CHANGE_STATE = "AccessControl.CredentialChangeState"
POLICY_VIEW = "AccessControl.PolicyConfigurationView"
ALL = (VIEW, CREATE, MODIFY, DELETE, CHANGE_STATE, POLICY_VIEW)
DTO_FIELDS = {
    "created", "lastModified", "version", "extId", "userExtId", "policyExtId", "stateName", "stateChangeReason",
    "stateChangeDetail", "lastSuccessfulLoginDate", "successfulLoginCount", "lastFailedLoginDate",
    "failedLoginCount", "modificationComment", "type", "validity", "otp",
}  # fmt: skip
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# nevisIDM's LoginStatus DTO (docs.nevis.net login and update-login-info pages); the counters keep the
# credential DTO's names, which those pages leave unreadable.
LOGIN_STATUS_FIELDS = {
    "statusCode", "description", "userExtId", "clientExtId", "credentialExtId", "credentialType", "userLastLogin",
    "userLastLoginFailure", "credentialLastLogin", "credentialLastLoginFailure", "successfulLoginCount",
    "failedLoginCount",
}  # fmt: skip
NO_RECORD = {"errors": [{"code": "errors.noRecord", "message": "No such record"}]}


def key_client(organization, *permissions) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(organization, *permissions)[1]}")
    return client


def token_client(client_ext_id, user_ext_id, *, key=None, exp_in=300) -> APIClient:
    claims = {"sub": user_ext_id, "client": client_ext_id, "exp": int(time.time()) + exp_in}
    client = APIClient()
    client.credentials(HTTP_X_TOKEN=jwt.encode(claims, key or settings.OTPSITE_SELF_ADMIN_JWT_KEY, algorithm="HS256"))
    return client


def base(person) -> str:
    return f"/nevisidm/api/core/v1/{person.organization.ext_id}/users/{person.ext_id}/otp-credentials"


def auth(person, what) -> str:
    return f"/nevisidm/api/auth/v1/{person.organization.ext_id}/users/{person.ext_id}/otp/{what}"


@pytest.fixture
def card():
    person = card_holder()
    return services.card_create(person=person, ext_id="otp-123", actor=ACTOR)


def codes(response) -> list[str]:
    body = response.json()
    assert set(body) == {"errors"} and all(set(item) == {"code", "message"} for item in body["errors"])
    return [item["code"] for item in body["errors"]]


# (name, method, url builder, body builder, permissions needed)
ENDPOINTS = [
    ("list", "get", lambda c: base(c.otp_user), None, (VIEW,)),
    ("get", "get", lambda c: f"{base(c.otp_user)}/{c.ext_id}", None, (VIEW,)),
    ("create", "post", lambda c: base(c.otp_user), lambda c: {}, (CREATE, VIEW, POLICY_VIEW)),
    (
        "replace",
        "post",
        lambda c: f"{base(c.otp_user)}/{c.ext_id}/replace",
        lambda c: {"modificationComment": "lost", "version": str(c.version)},
        (MODIFY, VIEW),
    ),
    (
        "patch",
        "patch",
        lambda c: f"{base(c.otp_user)}/{c.ext_id}",
        lambda c: {"version": c.version, "modificationComment": "note"},
        (MODIFY, VIEW),
    ),
    ("delete", "delete", lambda c: f"{base(c.otp_user)}/{c.ext_id}", None, (DELETE,)),
    ("challenge", "post", lambda c: auth(c.otp_user, "challenge"), None, (VIEW,)),
    (
        "login",
        "post",
        lambda c: auth(c.otp_user, "login"),
        lambda c: {"challenge": "001", "password": "0000"},
        (VIEW, CHANGE_STATE),
    ),
]
IDS = [endpoint[0] for endpoint in ENDPOINTS]


def send(client, method, url, body=None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


class TestLadder:
    @pytest.mark.parametrize(("name", "method", "url", "body", "needs"), ENDPOINTS, ids=IDS)
    def test_anonymous_is_401(self, card, name, method, url, body, needs):
        response = send(APIClient(), method, url(card), body and body(card))
        assert response.status_code == 401 and codes(response) == ["errors.notAuthenticated"]

    @pytest.mark.parametrize(("name", "method", "url", "body", "needs"), ENDPOINTS, ids=IDS)
    def test_each_missing_permission_is_403(self, card, name, method, url, body, needs):
        for missing in needs:
            client = key_client(card.organization, *[p for p in ALL if p != missing])
            response = send(client, method, url(card), body and body(card))
            assert response.status_code == 403, (missing, response.content)
            assert codes(response) == ["errors.permissionDenied"] and missing in response.json()["errors"][0]["message"]
        assert OtpCard.objects.get(pk=card.pk).version == card.version

    @pytest.mark.parametrize(("name", "method", "url", "body", "needs"), ENDPOINTS, ids=IDS)
    def test_another_clients_user_is_no_record(self, card, name, method, url, body, needs):
        outsider = card_holder().organization
        response = send(key_client(outsider, *ALL), method, url(card), body and body(card))
        assert response.status_code == 404 and response.json() == NO_RECORD
        assert OtpCard.objects.get(pk=card.pk).version == card.version

    @pytest.mark.parametrize(
        "path",
        [
            "/nevisidm/api/core/v1/no-client/users/{user}/otp-credentials",
            "/nevisidm/api/core/v1/{client}/users/no-user/otp-credentials",
            "/nevisidm/api/core/v1/{client}/users/{user}/otp-credentials/no-card",
            "/nevisidm/api/core/v1/{client}/users/{user}/otp-credentials/bad%20id!",
        ],
    )
    def test_unknown_or_malformed_ids_are_no_record(self, card, path):
        url = path.format(client=card.organization.ext_id, user=card.otp_user.ext_id)
        response = key_client(card.organization, *ALL).get(url)
        assert response.status_code == 404 and response.json() == NO_RECORD


class TestGet:
    def test_the_seed_dto(self, card):
        response = key_client(card.organization, VIEW).get(f"{base(card.otp_user)}/otp-123")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == DTO_FIELDS
        assert (body["extId"], body["userExtId"], body["policyExtId"]) == ("otp-123", card.otp_user.ext_id, "default")
        assert body["stateName"] == "initial" and body["type"] == "OTP Card" and body["version"] == 0
        assert DATE.match(body["created"]) and DATE.match(body["lastModified"])
        assert DATE.match(body["validity"]["from"]) and DATE.match(body["validity"]["to"])
        assert body["lastSuccessfulLoginDate"] is None and body["failedLoginCount"] == 0
        decoded = card_maths.decode(body["otp"])
        assert decoded.cells == services.card_cells(card) and decoded.latest_challenge is None
        assert AuditEvent.objects.filter(action="card.read_back", object_id=card.public_id).exists()

    def test_the_list_pages_with_a_continuation_token(self, card):
        services.card_create(person=card.otp_user, ext_id="otp-456", actor=ACTOR)
        client = key_client(card.organization, VIEW)
        first = client.get(base(card.otp_user), {"limit": 1}).json()
        assert [item["extId"] for item in first["items"]] == ["otp-123"]
        token = first["_pagination"]["continuationToken"]
        second = client.get(base(card.otp_user), {"limit": 1, "continuationToken": token}).json()
        assert [item["extId"] for item in second["items"]] == ["otp-456"]
        assert second["_pagination"] == {"continuationToken": None, "limit": 1}

    @pytest.mark.parametrize("query", [{"limit": -1}, {"limit": 101}, {"limit": "x"}, {"continuationToken": "nope"}])
    def test_bad_list_parameters(self, card, query):
        response = key_client(card.organization, VIEW).get(base(card.otp_user), query)
        assert response.status_code == 400 and codes(response) == ["errors.invalidData"]


class TestSelfAdmin:
    def test_a_user_reads_and_deletes_their_own_card(self, card):
        client = token_client(card.organization.ext_id, card.otp_user.ext_id)
        assert client.get(f"{base(card.otp_user)}/otp-123").status_code == 200
        assert client.delete(f"{base(card.otp_user)}/otp-123").status_code == 204
        assert not OtpCard.objects.filter(pk=card.pk).exists()
        assert AuditEvent.objects.get(action="card.delete").actor_type == "person"

    def test_a_token_for_another_user_is_403(self, card):
        other = OtpUserFactory(organization=card.organization, ext_id="user-other")
        response = token_client(card.organization.ext_id, other.ext_id).get(f"{base(card.otp_user)}/otp-123")
        assert response.status_code == 403 and codes(response) == ["errors.permissionDenied"]

    def test_a_user_replaces_their_own_card(self, card):
        before = services.card_cells(card)
        client = token_client(card.organization.ext_id, card.otp_user.ext_id)
        # The replace page's body: modificationComment and version (typed string there).
        response = client.post(
            f"{base(card.otp_user)}/otp-123/replace",
            '{"modificationComment": "lost my card", "version": "0"}',
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == DTO_FIELDS and body["extId"] == "otp-123" and body["version"] == 1
        assert body["modificationComment"] == "lost my card" and body["stateName"] == "initial"
        card.refresh_from_db()
        assert card_maths.decode(body["otp"]).cells == services.card_cells(card) != before
        event = AuditEvent.objects.get(action="card.replace")
        assert (
            event.actor_type == "person"
            and event.actor_label == f"self-admin {card.otp_user.ext_id}@{card.organization.ext_id}"
        )

    def test_another_users_token_cannot_replace_and_changes_nothing(self, card):
        before = services.card_cells(card)
        other = OtpUserFactory(organization=card.organization, ext_id="user-other")
        response = token_client(card.organization.ext_id, other.ext_id).post(
            f"{base(card.otp_user)}/otp-123/replace", {"modificationComment": "x", "version": "0"}, format="json"
        )
        assert response.status_code == 403 and codes(response) == ["errors.permissionDenied"]
        card.refresh_from_db()
        assert card.version == 0 and services.card_cells(card) == before
        assert not AuditEvent.objects.filter(action="card.replace").exists()

    def test_a_self_admin_replace_with_a_stale_version_is_409(self, card):
        client = token_client(card.organization.ext_id, card.otp_user.ext_id)
        response = client.post(
            f"{base(card.otp_user)}/otp-123/replace", {"modificationComment": "x", "version": "7"}, format="json"
        )
        assert response.status_code == 409 and codes(response) == ["errors.pessimisticLockingFailure"]

    @pytest.mark.parametrize("name", ["list", "create", "patch", "challenge", "login"])
    def test_self_admin_is_limited_to_get_replace_and_delete(self, card, name):
        _, method, url, body, _ = next(endpoint for endpoint in ENDPOINTS if endpoint[0] == name)
        client = token_client(card.organization.ext_id, card.otp_user.ext_id)
        assert send(client, method, url(card), body and body(card)).status_code == 403

    @pytest.mark.parametrize(
        "make",
        [
            lambda c: token_client(
                c.organization.ext_id, c.otp_user.ext_id, key="another-key-of-at-least-thirty-two-bytes"
            ),
            lambda c: token_client(c.organization.ext_id, c.otp_user.ext_id, exp_in=-600),
        ],
    )
    def test_forged_or_expired_tokens_are_401(self, card, make):
        assert make(card).get(f"{base(card.otp_user)}/otp-123").status_code == 401


class TestCreate:
    def test_201_with_location(self, card):
        client = key_client(card.organization, CREATE, VIEW, POLICY_VIEW)
        response = client.post(base(card.otp_user), {"extId": "otp-789", "stateName": "active"}, format="json")
        assert response.status_code == 201
        assert response["Location"].endswith(f"{base(card.otp_user)}/otp-789")
        assert response.json()["stateName"] == "active" and set(response.json()) == DTO_FIELDS

    def test_a_third_card_is_422(self, card):
        client = key_client(card.organization, CREATE, VIEW, POLICY_VIEW)
        assert client.post(base(card.otp_user), {}, format="json").status_code == 201
        response = client.post(base(card.otp_user), {}, format="json")
        assert response.status_code == 422 and codes(response) == ["errors.tooManyOTPCards"]
        assert OtpCard.objects.count() == 2

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({"extId": "otp-123"}, 422, "errors.duplicateValue"),
            ({"policyExtId": "nope"}, 422, "errors.missingReferenceData"),
            ({"stateName": "archived"}, 400, "errors.invalidData"),
            ({"stateName": "sleeping"}, 400, "errors.invalidData"),
            ({"extId": "bad id!"}, 400, "errors.invalidData"),
            ({"extId": 7}, 400, "errors.invalidData"),
            ({"color": "red"}, 400, "errors.invalidData"),
        ],
    )
    def test_bad_bodies(self, card, body, status, code):
        client = key_client(card.organization, CREATE, VIEW, POLICY_VIEW)
        response = client.post(base(card.otp_user), body, format="json")
        assert response.status_code == status and codes(response) == [code]
        assert OtpCard.objects.count() == 1

    def test_malformed_json(self, card):
        client = key_client(card.organization, CREATE, VIEW, POLICY_VIEW)
        response = client.post(base(card.otp_user), data='{"extId": ', content_type="application/json")
        assert response.status_code == 400 and codes(response) == ["errors.invalidData"]


class TestChange:
    def url(self, card) -> str:
        return f"{base(card.otp_user)}/{card.ext_id}"

    def test_patch_state_validity_and_comment(self, card):
        client = key_client(card.organization, MODIFY, VIEW, CHANGE_STATE)
        body = {
            "version": 0,
            "stateName": "disabled",
            "stateChangeReason": "left the company",
            "modificationComment": "ticket 42",
            "validity": {"to": "2030-01-01T00:00:00Z"},
        }
        response = client.patch(self.url(card), body, format="json")
        assert response.status_code == 200, response.content
        data = response.json()
        assert (data["stateName"], data["stateChangeReason"], data["version"]) == ("disabled", "left the company", 1)
        assert data["validity"]["to"] == "2030-01-01T00:00:00Z" and data["modificationComment"] == "ticket 42"

    def test_a_stale_version_is_409_and_changes_nothing(self, card):
        client = key_client(card.organization, MODIFY, VIEW, CHANGE_STATE)
        assert (
            client.patch(self.url(card), {"version": 0, "modificationComment": "a"}, format="json").status_code == 200
        )
        response = client.patch(self.url(card), {"version": 0, "stateName": "disabled"}, format="json")
        assert response.status_code == 409 and codes(response) == ["errors.pessimisticLockingFailure"]
        replace = client.post(f"{self.url(card)}/replace", {"modificationComment": "x", "version": "0"}, format="json")
        assert replace.status_code == 409
        stored = OtpCard.objects.get(pk=card.pk)
        assert (stored.state, stored.version, stored.grid_sealed) == ("initial", 1, card.grid_sealed)

    def test_changing_the_state_needs_change_state(self, card):
        client = key_client(card.organization, MODIFY, VIEW)
        response = client.patch(self.url(card), {"version": 0, "stateName": "disabled"}, format="json")
        assert response.status_code == 403 and CHANGE_STATE in response.json()["errors"][0]["message"]

    def test_a_transition_the_table_forbids_is_422(self, card):
        services.card_set_state(card=card, state=CardState.ARCHIVED, actor=ACTOR)
        client = key_client(card.organization, MODIFY, VIEW, CHANGE_STATE)
        response = client.patch(self.url(card), {"version": 1, "stateName": "active"}, format="json")
        assert response.status_code == 422 and codes(response) == ["errors.policyViolation"]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"version": "1"},
            {"version": -1},
            {"version": 0, "stateName": "frozen"},
            {"version": 0, "validity": {"from": "yesterday"}},
            {"version": 0, "validity": {"from": "2030-01-01T00:00:00Z", "to": "2029-01-01T00:00:00Z"}},
            {"version": 0, "validity": {"until": "2030-01-01T00:00:00Z"}},
            {"version": 0, "otp": "1|1|0|12"},
        ],
        ids=[
            "no-version",
            "string-version",
            "negative",
            "unknown-state",
            "bad-date",
            "to-before-from",
            "unknown-key",
            "read-only-field",
        ],
    )
    def test_bad_patches_change_nothing(self, card, body):
        client = key_client(card.organization, MODIFY, VIEW, CHANGE_STATE)
        response = client.patch(self.url(card), body, format="json")
        assert response.status_code == 400 and codes(response) == ["errors.invalidData"], response.content
        assert OtpCard.objects.get(pk=card.pk).version == 0

    def test_replace(self, card):
        client = key_client(card.organization, MODIFY, VIEW)
        response = client.post(
            f"{self.url(card)}/replace", {"modificationComment": "lost", "version": 0}, format="json"
        )
        assert response.status_code == 200
        assert card_maths.decode(response.json()["otp"]).cells != services.card_cells(card)

    @pytest.mark.parametrize(
        "body", [{"version": 0}, {"modificationComment": "x"}, {"modificationComment": "x", "version": "v1"}]
    )
    def test_bad_replaces(self, card, body):
        client = key_client(card.organization, MODIFY, VIEW)
        assert client.post(f"{self.url(card)}/replace", body, format="json").status_code == 400

    def test_delete(self, card):
        response = key_client(card.organization, DELETE).delete(self.url(card))
        assert response.status_code == 204 and not OtpCard.objects.exists()

    def test_put_is_not_allowed(self, card):
        response = key_client(card.organization, *ALL).put(self.url(card), {}, format="json")
        assert response.status_code == 405 and codes(response) == ["errors.methodNotAllowed"]


class TestChallengeAndLogin:
    def test_challenge_then_login(self, card):
        client = key_client(card.organization, VIEW, CHANGE_STATE)
        response = client.post(auth(card.otp_user, "challenge"))
        assert response.status_code == 200
        challenge = response.json()["challenge"]
        assert response.json() == {"challenge": challenge, "status": "initial"} and re.fullmatch(r"\d{3}", challenge)
        answer = answer_for(card, challenge)
        login = client.post(
            auth(card.otp_user, "login"),
            {"challenge": challenge, "password": answer, "updateLoginInfoOnSuccess": True},
            format="json",
        )
        assert login.status_code == 200
        body = login.json()
        assert (body["statusCode"], body["credentialExtId"], body["credentialType"]) == (0, "otp-123", "OTP Card")
        assert DATE.match(body["userLastLogin"]) and body["successfulLoginCount"] == 1
        assert set(body) == LOGIN_STATUS_FIELDS
        assert DATE.match(body["credentialLastLogin"]) and body["userLastLoginFailure"] is None
        assert body["credentialLastLoginFailure"] is None
        replay = client.post(auth(card.otp_user, "login"), {"challenge": challenge, "password": answer}, format="json")
        assert replay.status_code == 200 and replay.json()["statusCode"] == 3

    def test_wrong_answers_then_423(self, card):
        client = key_client(card.organization, VIEW, CHANGE_STATE)
        challenge = client.post(auth(card.otp_user, "challenge")).json()["challenge"]
        wrong = {"challenge": challenge, "password": wrong_answer_for(card, challenge)}
        first = client.post(auth(card.otp_user, "login"), wrong, format="json")
        assert first.status_code == 200 and first.json()["statusCode"] == 2 and first.json()["failedLoginCount"] == 1
        failure = first.json()
        assert set(failure) == LOGIN_STATUS_FIELDS
        assert (
            DATE.match(failure["userLastLoginFailure"])
            and failure["userLastLoginFailure"] == (failure["credentialLastLoginFailure"])
        )
        assert failure["userLastLogin"] is None and failure["credentialLastLogin"] is None
        assert client.post(auth(card.otp_user, "login"), wrong, format="json").json()["statusCode"] == 2
        locked = client.post(auth(card.otp_user, "login"), wrong, format="json")
        assert locked.status_code == 423 and codes(locked) == ["errors.credentialLocked"]
        assert client.post(auth(card.otp_user, "challenge")).status_code == 423

    def test_a_disabled_card_is_403_and_no_card_is_404(self, card):
        services.card_set_state(card=card, state=CardState.DISABLED, actor=ACTOR)
        client = key_client(card.organization, VIEW, CHANGE_STATE)
        response = client.post(auth(card.otp_user, "challenge"))
        assert response.status_code == 403 and codes(response) == ["errors.credentialNotActive"]
        services.card_delete(card=card, actor=ACTOR)
        assert client.post(auth(card.otp_user, "challenge")).json() == NO_RECORD

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"challenge": "001"},
            {"challenge": 1, "password": "1"},
            {"challenge": "001", "password": 1234},
            {"challenge": "001", "password": "1", "updateLoginInfoOnSuccess": "maybe"},
            {"challenge": "001", "password": "1", "x": 1},
        ],
    )
    def test_bad_login_bodies_count_nothing(self, card, body):
        client = key_client(card.organization, VIEW, CHANGE_STATE)
        client.post(auth(card.otp_user, "challenge"))
        response = client.post(auth(card.otp_user, "login"), body, format="json")
        assert response.status_code == 400 and set(codes(response)) == {"errors.invalidData"}
        assert OtpCard.objects.get(pk=card.pk).failed_login_count == 0
