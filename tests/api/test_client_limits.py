"""Client limits on every API surface: failed authentications per address and requests per API key, each
answered in the surface's own 429 envelope with Retry-After."""

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from otpusers.models import AuditEvent
from tests.factories import OtpUserFactory, PublishedApplicationFactory, make_api_key

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.66"
NEIGHBOUR = "203.0.113.5"
WRONG_KEY = "0123456789abcdef"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Surface:
    """What one surface needs here: a request a correct client makes, the Authorization a wrong one sends,
    and how its envelope says 429."""

    def __init__(self, name, method, permissions, url, body, wrong_authorization, authorization, throttled):
        self.name, self.method, self.permissions = name, method, permissions
        self.url, self.body = url, body
        self.wrong_authorization, self.authorization, self.throttled = wrong_authorization, authorization, throttled

    def call(self, world, authorization: str, address: str):
        client = APIClient(REMOTE_ADDR=address)
        client.credentials(HTTP_AUTHORIZATION=authorization)
        return getattr(client, self.method)(self.url(world), self.body(world), format="json")


def capillary_password(secret: str) -> str:
    return hashlib.md5(secret.encode()).hexdigest()


SURFACES = [
    Surface(
        "applivery",
        "get",
        ("mad.store.otpUsers.list",),
        lambda w: f"/v1/organizations/{w['store'].organization.slug}/stores/{w['store'].public_id}/otp-users",
        lambda w: None,
        f"Bearer {WRONG_KEY}.not-the-secret",
        lambda key, secret: f"Bearer {key.key_id}.{secret}",
        lambda body: body["error"]["code"] == 4029 and body["status"] is False,
    ),
    Surface(
        "capillary",
        "post",
        ("capillary.otp.write",),
        lambda w: "/v2/otp/validate",
        lambda w: {"entityType": "MOBILE", "entityValue": w["person"].mobile, "action": "GENERIC", "code": "123456"},
        basic(WRONG_KEY, capillary_password("not-the-secret")),
        lambda key, secret: basic(key.key_id, capillary_password(secret)),
        lambda body: body["errors"][0]["code"] == 429 and body["errors"][0]["status"] is False,
    ),
    Surface(
        "manage",
        "post",
        ("manage.otp.send",),
        lambda w: "/manage/v2/user/send/otp",
        lambda w: {"userName": w["person"].user_name, "phoneNumber": w["person"].mobile, "channel": "sms"},
        basic(WRONG_KEY, "not-the-secret"),
        lambda key, secret: basic(key.key_id, secret),
        lambda body: body["errors"][0]["errorCode"] == 100009 and "apiRequestId" in body,
    ),
    Surface(
        "nevisidm",
        "get",
        ("AccessControl.CredentialView",),
        lambda w: f"/nevisidm/api/core/v1/{w['person'].organization.ext_id}/users/{w['person'].ext_id}/otp-credentials",
        lambda w: None,
        f"Bearer {WRONG_KEY}.not-the-secret",
        lambda key, secret: f"Bearer {key.key_id}.{secret}",
        lambda body: body["errors"][0]["code"] == "errors.tooManyRequests",
    ),
]


@pytest.fixture
def world(clock):
    clock.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    store = PublishedApplicationFactory().store
    organization = store.organization
    organization.ext_id = f"client-{organization.pk}"
    organization.resend_cooldown_seconds = 0
    organization.daily_issue_limit = 1000
    organization.save()
    person = OtpUserFactory(organization=organization, mobile="+4915100000002", user_name="person", ext_id="person-ext")
    return {"store": store, "person": person, "clock": clock}


def correct(surface: Surface, world, **key_options) -> str:
    api_key, token = make_api_key(world["store"].organization, *surface.permissions, **key_options)
    return surface.authorization(api_key, token.split(".", 1)[1])


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_thousand_wrong_credentials_are_refused_after_the_limit_and_others_are_not(surface, world, settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((20, 900),)
    statuses = []
    for _ in range(1000):
        response = surface.call(world, surface.wrong_authorization, ATTACKER)
        statuses.append(response.status_code)
    assert statuses == [401] * 20 + [429] * 980
    assert surface.throttled(response.json())
    assert response["Retry-After"] == "900"

    right = correct(surface, world)
    assert surface.call(world, right, NEIGHBOUR).status_code == 200
    # From the blocked address even the right credentials are refused until the window ends.
    assert surface.call(world, right, ATTACKER).status_code == 429
    world["clock"].advance(seconds=900)
    assert surface.call(world, right, ATTACKER).status_code == 200


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_key_makes_its_requests_per_minute_then_429(surface, world):
    limited = correct(surface, world, requests_per_minute=3)
    other = correct(surface, world)
    statuses = [surface.call(world, limited, NEIGHBOUR).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = surface.call(world, limited, NEIGHBOUR)
    assert surface.throttled(refused.json()) and refused["Retry-After"] == "60"
    assert surface.call(world, other, NEIGHBOUR).status_code == 200
    world["clock"].advance(seconds=60)
    assert surface.call(world, limited, NEIGHBOUR).status_code == 200


def test_keys_without_their_own_limit_use_the_default(world, settings):
    settings.OTPSITE_API_KEY_REQUESTS_PER_MINUTE = 2
    applivery = SURFACES[0]
    right = correct(applivery, world)
    assert [applivery.call(world, right, NEIGHBOUR).status_code for _ in range(3)] == [200, 200, 429]


def test_a_self_admin_token_counts_failures_too(world, settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((3, 900),)
    person = world["person"]
    url = f"/nevisidm/api/core/v1/{person.organization.ext_id}/users/{person.ext_id}/otp-credentials/x"
    client = APIClient(REMOTE_ADDR=ATTACKER, HTTP_X_TOKEN="not.a.jwt")
    assert [client.get(url).status_code for _ in range(5)] == [401, 401, 401, 429, 429]


def test_audit_keeps_the_forwarded_address_only_behind_a_trusted_proxy(world, settings):
    capillary = SURFACES[1]
    right = correct(capillary, world)

    def audited_address(**headers) -> str:
        client = APIClient(REMOTE_ADDR="10.0.0.2", **headers)
        client.credentials(HTTP_AUTHORIZATION=right)
        client.post(capillary.url(world), capillary.body(world), format="json")
        return AuditEvent.objects.filter(action="code.verify").latest("id").client_ip

    assert audited_address(HTTP_X_FORWARDED_FOR="192.0.2.1") == "10.0.0.2"
    settings.OTPSITE_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert audited_address(HTTP_X_FORWARDED_FOR="192.0.2.1, 10.0.0.9") == "192.0.2.1"


def test_the_schema_documents_the_429_of_every_authenticated_operation():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [operation for path in schema["paths"].values() for operation in path.values()]
    authenticated = [operation for operation in operations if "401" in operation["responses"]]
    assert len(authenticated) >= 15
    for operation in authenticated:
        limited = operation["responses"]["429"]
        assert "Retry-After" in limited["headers"] and "client limit" in limited["description"]
        assert limited["content"] == operation["responses"]["401"]["content"]


def test_capillary_oauth_token_guesses_count_against_the_address(world, settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((5, 900),)
    api_key, token = make_api_key(world["store"].organization, "capillary.otp.write")
    secret = token.split(".", 1)[1]

    def generate(address: str, key_secret: str):
        return APIClient(REMOTE_ADDR=address).post(
            "/v3/oauth/token/generate", {"key": api_key.key_id, "secret": key_secret}, format="json"
        )

    statuses = [generate(ATTACKER, "wrong").status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    refused = generate(ATTACKER, secret)
    assert refused.status_code == 429 and refused["Retry-After"] == "900"
    assert refused.json()["data"] is None and refused.json()["errors"][0]["code"] == 429
    assert generate(NEIGHBOUR, secret).status_code == 200


def test_a_wrong_capillary_oauth_token_counts_too(world, settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((3, 900),)
    client = APIClient(REMOTE_ADDR=ATTACKER, HTTP_X_CAP_API_OAUTH_TOKEN="not-a-token")
    body = SURFACES[1].body(world)
    assert [client.post("/v2/otp/validate", body, format="json").status_code for _ in range(5)] == [401] * 3 + [429] * 2


def limit_statements(call) -> tuple[list[str], object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.statements import client_limit_statements

    with CaptureQueriesContext(connection) as captured:
        response = call()
    return client_limit_statements(captured), response


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_each_request_costs_the_limits_one_statement(surface, world, settings):
    """An accepted request: one statement (the key's request counted and the address's failures read
    together); a failed authentication: one UPSERT; both on every surface, whatever the authenticators."""
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((20, 900),)
    right = correct(surface, world)
    accepted, response = limit_statements(lambda: surface.call(world, right, NEIGHBOUR))
    assert response.status_code == 200
    assert len(accepted) == 1 and accepted[0].startswith("WITH bumped AS (INSERT")
    refused, response = limit_statements(lambda: surface.call(world, surface.wrong_authorization, ATTACKER))
    assert response.status_code == 401
    assert len(refused) == 1 and refused[0].startswith("INSERT")


def test_a_request_without_credentials_costs_the_limits_nothing(world):
    url = SURFACES[1].url(world)
    statements, response = limit_statements(lambda: APIClient(REMOTE_ADDR=ATTACKER).post(url, {}, format="json"))
    assert response.status_code == 401 and statements == []


def test_counters_in_a_cache_cost_no_statement_and_stay_exact(world, settings):
    settings.CACHES = {
        **settings.CACHES,
        "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits-test"},
    }
    settings.OTPSITE_RATE_LIMIT_CACHE = "limits"
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((2, 900),)
    surface = SURFACES[0]
    limited = correct(surface, world, requests_per_minute=2)
    statements, _ = limit_statements(lambda: surface.call(world, limited, NEIGHBOUR))
    assert statements == []
    assert [surface.call(world, limited, NEIGHBOUR).status_code for _ in range(2)] == [200, 429]
    assert [surface.call(world, surface.wrong_authorization, ATTACKER).status_code for _ in range(3)] == [401, 401, 429]
    assert surface.call(world, correct(surface, world), ATTACKER).status_code == 429


def as_another_process_would(clock, change):
    """Runs `change` (a rotation or revocation through the services) a moment later, while this process goes
    on remembering the keys it had read, as every other gunicorn worker and node does."""
    from otpusers import services

    remembered = dict(services._api_key_cache)
    clock.advance(seconds=1)  # well within the cache's lifetime
    result = change()
    services._api_key_cache.update(remembered)
    return result


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_rotation_elsewhere_is_honoured_on_the_next_request(surface, world):
    """Within the API-key cache's lifetime: the old secret is refused and the new one accepted at once."""
    from otpusers import services

    api_key, token = make_api_key(world["store"].organization, *surface.permissions)
    old = surface.authorization(api_key, token.split(".", 1)[1])
    assert surface.call(world, old, NEIGHBOUR).status_code == 200
    actor = services.Actor.system("test")
    new_secret = as_another_process_would(world["clock"], lambda: services.api_key_rotate(api_key=api_key, actor=actor))
    assert surface.call(world, old, NEIGHBOUR).status_code == 401
    assert surface.call(world, surface.authorization(api_key, new_secret), NEIGHBOUR).status_code == 200
    assert surface.call(world, old, NEIGHBOUR).status_code == 401


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_revocation_elsewhere_is_honoured_on_the_next_request(surface, world):
    from otpusers import services

    api_key, token = make_api_key(world["store"].organization, *surface.permissions)
    right = surface.authorization(api_key, token.split(".", 1)[1])
    assert surface.call(world, right, NEIGHBOUR).status_code == 200
    actor = services.Actor.system("test")
    as_another_process_would(world["clock"], lambda: services.api_key_revoke(api_key=api_key, actor=actor))
    assert surface.call(world, right, NEIGHBOUR).status_code == 401
    reasons = AuditEvent.objects.filter(action="api_key.authenticate", api_key=api_key).values_list("reason", flat=True)
    assert list(reasons) == ["revoked"]
