"""A database that cannot be reached answers 503 with Retry-After, never a 500 (issue 10, finding 9): in each
surface's envelope on the API, and as a friendly page on the store page."""

import json
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tests.api.surfaces import build_world

pytestmark = pytest.mark.django_db


@contextmanager
def database_down():
    with mock.patch.object(connection, "ensure_connection", side_effect=OperationalError("connection refused")):
        yield


@pytest.fixture
def world():
    return build_world()


def requests(world):
    """(method, path, body, what the envelope must hold) for an operation of each surface."""
    return [
        ("get", world.applivery, None, lambda body: body["error"]["code"] == 5003),
        ("get", f"{world.applivery}/{world.access.public_id}", None, lambda body: body["status"] is False),
        (
            "post",
            "/v2/otp/validate",
            {"entityType": "MOBILE", "entityValue": "+491500000001", "action": "GENERIC", "code": "1"},
            lambda body: body == {"errors": [{"status": False, "code": 503, "message": "Service unavailable"}]},
        ),
        (
            "post",
            "/manage/v2/user/send/otp",
            {"userName": "jane", "phoneNumber": "+491500000001", "channel": "sms"},
            lambda body: body["errors"][0]["errorCode"] == 200003 and body["apiRequestId"],
        ),
        ("get", world.nevis_core, None, lambda body: body["errors"][0]["code"] == "errors.serviceUnavailable"),
        ("post", f"{world.nevis_auth}/challenge", {}, lambda body: body["errors"][0]["code"].startswith("errors.")),
    ]


@pytest.mark.parametrize("index", range(6))
def test_each_surface_answers_503_with_retry_after(world, settings, index):
    method, path, body, holds = requests(world)[index]
    client = world.client(path)
    with database_down():
        if body is None:
            response = getattr(client, method)(path)
        else:
            response = getattr(client, method)(path, body, format="json")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(settings.OTPSITE_UNAVAILABLE_RETRY_AFTER)
    assert response["Content-Type"].startswith("application/json")
    assert holds(json.loads(response.content)), response.content


def test_the_store_page_answers_a_friendly_503(world, settings):
    application = world.access.published_application
    client = Client(raise_request_exception=False)
    with database_down():
        response = client.get(f"/store/{application.store.slug}/{application.slug}/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.OTPSITE_UNAVAILABLE_RETRY_AFTER)
    assert response["Content-Type"].startswith("text/html")
    assert b"Back in a moment" in response.content and b"Traceback" not in response.content


def test_a_failure_outside_the_view_still_answers_the_surface_envelope(world, monkeypatch):
    """A response that cannot even be rendered is answered by handler500, in the surface's envelope."""
    from rest_framework.renderers import JSONRenderer

    monkeypatch.setattr(JSONRenderer, "render", lambda *args, **kwargs: 1 / 0)
    client = world.client("/v2/otp/validate")
    client.raise_request_exception = False
    response = client.post("/v2/otp/validate", data=b"{}", content_type="application/json")
    assert response.status_code == 500
    assert json.loads(response.content) == {"errors": [{"status": False, "code": 500, "message": "Internal error"}]}
