"""The schema is the contract (issue 10, finding 7): schemathesis generates requests from the OpenAPI
schema for every operation of every surface and checks every answer against it, with all its checks.

Requests go in-process to the WSGI handler on the test's own PostgreSQL transaction, with an API key holding
every permission and real objects behind every path. Examples are derived from each test's name (the CI
Hypothesis profile), so a run repeats; the number per operation keeps the whole run near two minutes."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings

from tests.api.surfaces import PATH_PARAMETERS, build_world

EXAMPLES_PER_OPERATION = 10
# Refusals of well-formed requests that a schema cannot express, each documented on its operation: they
# depend on what the database holds or on the order of earlier calls, not on the request's shape.
# positive_data_acceptance already takes 401, 403, 404, 409 and 429.
BUSINESS_REFUSALS = {
    "manage_validate_user_otp": ["400"],  # 100006: wrong OTP, or no such user, alike
    "capillary_generate_otp": ["400"],  # 602 no customer with this entity value, 603 no address on file
    # 1061 on all three: X-CAP-API-ATTRIBUTION-LOOKUP needs its -TYPE header, a tie OpenAPI 3.0 cannot state
    "capillary_get_otp": ["400"],
    "capillary_validate_otp": ["400"],
    "nevisidm_api_core_v1_users_otp_credentials_list": ["400"],  # a continuationToken this server never gave
    "nevisidm_api_core_v1_users_otp_credentials_create": ["422"],  # two cards already, extId taken, no policy
    "nevisidm_api_core_v1_users_otp_credentials_partial_update": ["400", "422"],  # validity order, transitions
    "nevisidm_api_auth_v1_users_otp_challenge_create": ["423"],  # the card is locked
    "nevisidm_api_auth_v1_users_otp_login_create": ["423"],
}
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def load_schema():
    generated = SchemaGenerator().get_schema(request=None, public=True)
    document = json.loads(OpenApiJsonRenderer().render(generated))
    config = schemathesis.Config.from_dict(
        {
            "parameters": {f"path.{name}": value for name, value in PATH_PARAMETERS.items()},
            # NUL is refused in every string (the schema's description says so; test_hostile_input.py
            # covers it), which JSON Schema's string type cannot state.
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none", "allow-x00": False},
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    "include-operation-id": operation_id,
                    "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES + statuses}},
                }
                for operation_id, statuses in BUSINESS_REFUSALS.items()
            ],
        }
    )
    loaded = schemathesis.openapi.from_dict(document, config=config)
    loaded.app = WSGIHandler()
    return loaded


schema = load_schema()


@pytest.fixture
def world(django_db_setup, django_db_blocker):
    return build_world()


@pytest.fixture
def in_process_requests(settings):
    """As Django's test client does: the handler must not close the test's connection after each request.
    Every request comes from one address with one key, and schemathesis also sends wrong credentials on
    purpose: the client limits (tests/api/test_client_limits.py) must not answer 429 to the rest of the run."""
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((1_000_000, 900),)
    settings.OTPSITE_API_KEY_REQUESTS_PER_MINUTE = 1_000_000
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# manage's application/x-protobuf bodies are `bytes` to the schema, which schemathesis cannot generate
# meaningfully; tests/api/manage covers them, and the JSON bodies of the same operations run here.
@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@pytest.mark.django_db
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_operation_answers_as_the_schema_says(case, world, in_process_requests):
    case.call_and_validate(headers={"Authorization": world.authorization(case.path)})
