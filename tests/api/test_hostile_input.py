"""No input answers a 500 (issue 10, finding 3): lone UTF-16 surrogates, NUL bytes and invalid UTF-8 in the
body, query string, path and headers, oversized bodies, deep nesting and numbers past any page all answer
the surface's own envelope with a 4xx, and change nothing in the database."""

import json

import pytest
from django.conf import settings

from credentials.models import IssuedCode, OtpCard
from otpusers.models import AppAccess, AuditEvent, OtpUser
from tests.api.surfaces import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def surface_of(path: str) -> str:
    if path.startswith("/v1/"):
        return "applivery"
    if path.startswith("/v2/"):
        return "capillary"
    if path.startswith("/manage/"):
        return "manage"
    return "nevisidm"


def assert_envelope(path: str, response, status: int) -> dict:
    """The response is the surface's documented error body with this status."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    surface = surface_of(path)
    if surface == "applivery":
        assert body["status"] is False and set(body["error"]) >= {"code", "message"}
    elif surface == "capillary":
        assert set(body) == {"errors"} and all(item["status"] is False for item in body["errors"])
    elif surface == "manage":
        assert set(body) == {"errors", "warnings", "apiRequestId"} and body["errors"][0]["errorCode"]
    else:
        assert set(body) == {"errors"} and all(set(item) == {"code", "message"} for item in body["errors"])
    return body


def row_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (AuditEvent, IssuedCode, OtpCard, AppAccess, OtpUser))


def send(world, method: str, path: str, body: bytes | None = None, **headers):
    client = world.client(path)
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(path, data=body, content_type="application/json", **headers)


# (method, path template, JSON body template): every operation that reads a JSON body, with a body it accepts
# except for the placeholder VALUE, where the hostile string goes.
BODY_OPERATIONS = [
    ("post", "{applivery}", '{{"email": "a@example.com", "allowedDownloadsNum": 1, "publishedApplicationId": "{app}", '
     '"X": VALUE}}'),
    ("put", "{applivery}/{access}", '{{"allowedDownloadsNum": 1, "X": VALUE}}'),
    ("post", "/v2/otp/generate", '{{"entityType": VALUE, "entityValue": "+491500000001", "action": "GENERIC", '
     '"channels": [{{"type": "SMS"}}]}}'),
    ("post", "/v2/otp/generate", '{{"entityType": "MOBILE", "entityValue": "+491500000001", "action": VALUE, '
     '"channels": [{{"type": "SMS"}}]}}'),
    ("post", "/v2/otp/generate", '{{"entityType": "MOBILE", "entityValue": "+491500000001", "action": "GENERIC", '
     '"channels": [{{"type": VALUE}}]}}'),
    ("post", "/v2/otp/validate", '{{"entityType": "MOBILE", "entityValue": VALUE, "action": "GENERIC", "code": "1"}}'),
    ("post", "/manage/v2/user/send/otp", '{{"userName": "jane", "phoneNumber": "+491500000001", "channel": VALUE}}'),
    ("post", "/manage/v2/user/validate/otp", '{{"userName": VALUE, "phoneNumber": "+491500000001", "otp": "1"}}'),
    ("post", "{nevis_core}", '{{"extId": "new-card", "stateName": VALUE}}'),
    ("patch", "{nevis_core}/{card}", '{{"version": 0, "stateName": VALUE}}'),
    ("post", "{nevis_core}/{card}/replace", '{{"version": 0, "modificationComment": VALUE}}'),
    ("post", "{nevis_auth}/login", '{{"challenge": VALUE, "password": "1234"}}'),
]  # fmt: skip
HOSTILE_VALUES = {
    "lone surrogate": r'"\ud800"',
    "lone low surrogate": r'"x\udfffy"',
    "NUL": r'"a\u0000b"',
}


def fill(world, template: str) -> str:
    return template.format(
        applivery=world.applivery,
        access=world.access.public_id,
        app=world.access.published_application.public_id,
        nevis_core=world.nevis_core,
        nevis_auth=world.nevis_auth,
        card=world.card.ext_id,
    )


@pytest.mark.parametrize("method, path, body", BODY_OPERATIONS)
@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_hostile_strings_in_a_body_answer_400(world, method, path, body, value):
    path = fill(world, path)
    before = row_counts()
    response = send(world, method, path, fill(world, body).replace("VALUE", value).encode())
    assert_envelope(path, response, 400)
    assert row_counts() == before


@pytest.mark.parametrize("method, path, body", BODY_OPERATIONS)
def test_a_lone_surrogate_as_an_unknown_key_answers_400(world, method, path, body):
    path = fill(world, path)
    before = row_counts()
    response = send(world, method, path, fill(world, body).replace('"X": VALUE', r'"\ud83d": 1').encode())
    body = assert_envelope(path, response, 400)
    assert "\\ud83d" not in json.dumps(body)
    assert row_counts() == before


@pytest.mark.parametrize("method, path, body", BODY_OPERATIONS)
def test_invalid_utf8_in_a_body_answers_400(world, method, path, body):
    path = fill(world, path)
    before = row_counts()
    response = send(world, method, path, fill(world, body).replace("VALUE", '"x\xff"').encode("latin-1"))
    assert_envelope(path, response, 400)
    assert row_counts() == before


@pytest.mark.parametrize("method, path, body", BODY_OPERATIONS)
def test_a_body_over_the_limit_answers_413(world, method, path, body):
    path = fill(world, path)
    before = row_counts()
    padding = '"' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"'
    response = send(world, method, path, fill(world, body).replace("VALUE", padding).encode())
    assert_envelope(path, response, 413)
    assert row_counts() == before


@pytest.mark.parametrize("method, path, body", BODY_OPERATIONS)
@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_nesting_past_the_bound_answers_400(world, method, path, body, depth):
    path = fill(world, path)
    before = row_counts()
    response = send(world, method, path, fill(world, body).replace("VALUE", "[" * depth + "]" * depth).encode())
    assert_envelope(path, response, 400)
    assert row_counts() == before


def test_nesting_within_the_bound_is_read(world):
    from otpsite.api.parsers import MAX_JSON_DEPTH

    value = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    path = "/v2/otp/validate"
    response = send(world, "post", path, ('{"entityType": "MOBILE", "entityValue": "+1", "action": "GENERIC", '
                                         f'"code": {value}}}').encode())  # fmt: skip
    body = assert_envelope(path, response, 400)
    assert body["errors"][0]["code"] == 604  # the body was read: the code field is named as wrong


# Paths with a hostile segment, query strings and headers, for every operation that reads them.
GET_PATHS = [
    "{applivery}",
    "{applivery}/{access}",
    "/v2/otp?identifierName=mobile&identifierValue=%2B491500000001&source=INSTORE&scope=GENERIC",
    "{nevis_core}",
    "{nevis_core}/{card}",
]
HOSTILE_SEGMENTS = {"NUL": "%00", "invalid UTF-8": "%FF%FE", "encoded surrogate": "%ED%A0%80"}


@pytest.mark.parametrize("path", GET_PATHS)
@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS.values(), ids=HOSTILE_SEGMENTS.keys())
def test_hostile_query_strings_answer_400(world, path, segment):
    path = fill(world, path)
    separator = "&" if "?" in path else "?"
    for parameter in ("page", "limit", "continuationToken", "identifierValue", "source", "threshold", "scope"):
        response = send(world, "get", f"{path}{separator}{parameter}=1{segment}")
        assert_envelope(path, response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/organizations/SEG/stores/{store}/otp-users",
        "/v1/organizations/{slug}/stores/SEG/otp-users",
        "/v1/organizations/{slug}/stores/{store}/otp-users/SEG",
        "/nevisidm/api/core/v1/SEG/users/user-1/otp-credentials",
        "/nevisidm/api/core/v1/client-1/users/SEG/otp-credentials",
        "/nevisidm/api/core/v1/client-1/users/user-1/otp-credentials/SEG",
    ],
)
@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS.values(), ids=HOSTILE_SEGMENTS.keys())
def test_hostile_path_segments_answer_the_envelope(world, path, segment):
    path = path.format(slug=world.organization.slug, store=world.store.public_id)
    response = send(world, "get", path.replace("SEG", f"a{segment}b"))
    assert response.status_code in (400, 404)
    assert_envelope(path, response, response.status_code)


@pytest.mark.parametrize(
    "path, post",
    [
        ("/nevisidm/api/auth/v1/client-1/users/SEG/otp/challenge", True),
        ("/nevisidm/api/auth/v1/SEG/users/user-1/otp/login", True),
    ],
)
@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS.values(), ids=HOSTILE_SEGMENTS.keys())
def test_hostile_path_segments_of_auth_operations(world, path, post, segment):
    response = world.client(path).post(path.replace("SEG", f"a{segment}b"), {}, format="json")
    assert response.status_code in (400, 404)
    assert_envelope(path, response, response.status_code)


@pytest.mark.parametrize(
    "header, value",
    [
        ("HTTP_AUTHORIZATION", "Bearer abcdefgh\x00ijklmnop.secret"),
        ("HTTP_AUTHORIZATION", "Basic " + __import__("base64").b64encode(b"abcdefgh\x00ijklmnop:pw").decode()),
        ("HTTP_AUTHORIZATION", "Basic " + __import__("base64").b64encode(b"abcdefgh\xffijklmnop:pw").decode()),
        ("HTTP_AUTHORIZATION", "Bearer \xff\xfe"),
        ("HTTP_X_TOKEN", "a\x00b"),
        ("HTTP_X_REQUEST_ID", "\x00"),
    ],
)
@pytest.mark.parametrize("path", ["{applivery}", "/v2/otp/validate", "/manage/v2/user/validate/otp", "{nevis_core}"])
def test_hostile_headers_answer_the_envelope(world, header, value, path):
    path = fill(world, path)
    before = row_counts()
    client = world.client(path)
    if header == "HTTP_AUTHORIZATION":
        client.credentials(**{header: value})
    else:
        client.credentials(HTTP_AUTHORIZATION=world.authorization(path), **{header: value})
    response = client.post(path, {}, format="json") if path.startswith(("/v2/", "/manage/")) else client.get(path)
    assert response.status_code in (400, 401, 404)
    assert_envelope(path, response, response.status_code)
    audit_written = row_counts()[0] - before[0]
    assert row_counts()[1:] == before[1:] and audit_written in (0, 1)


def test_a_nul_in_the_client_ip_header_answers_400(world):
    path = "/manage/v2/user/send/otp"
    before = row_counts()
    response = world.client(path).post(
        path,
        {"userName": "jane", "phoneNumber": "+491500000001", "channel": "sms"},
        format="json",
        HTTP_CLIENTIP="1\x00",
    )
    assert_envelope(path, response, 400)
    assert row_counts() == before


@pytest.mark.parametrize(
    "query",
    [
        "page=4611686018427387904",
        "page=9223372036854775807",
        "page=99999999999999999999999999999999",
        "limit=4611686018427387904",
        "page=" + "9" * 5000,
        "limit=1e400",
        "page=-1",
    ],
)
def test_applivery_page_and_limit_overflow_answer_400(world, query):
    response = send(world, "get", f"{world.applivery}?{query}")
    body = assert_envelope(world.applivery, response, 400)
    assert body["error"]["code"] == 6001


@pytest.mark.parametrize(
    "query",
    [
        "limit=4611686018427387904",
        "limit=" + "9" * 5000,
        "continuationToken=" + __import__("base64").urlsafe_b64encode(b"after:99999999999999999999").decode(),
        "continuationToken=" + __import__("base64").urlsafe_b64encode(b"after:" + b"9" * 60).decode(),
    ],
)
def test_nevisidm_limit_and_token_overflow_answer_400(world, query):
    response = send(world, "get", f"{world.nevis_core}?{query}")
    body = assert_envelope(world.nevis_core, response, 400)
    assert body["errors"][0]["code"] == "errors.invalidData"


def test_capillary_threshold_overflow_answers_400(world):
    path = "/v2/otp?identifierName=mobile&identifierValue=x&source=INSTORE&scope=GENERIC&threshold=" + "9" * 40
    assert_envelope(path, send(world, "get", path), 400)
