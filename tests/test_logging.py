"""The log format: one JSON line per record in production, with the request's context; text in development,
each line once."""

import json
import logging
import subprocess
import sys

import pytest
import structlog

from otpsite.logs import logging_config
from otpusers.models import ApiKey
from tests.api.capillary.test_otp import capillary_client, generate_body, post
from tests.credentials.helpers import person_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    config = logging_config(json=True, level="INFO")["formatters"]["otpsite"]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=config["foreign_pre_chain"], processors=config["processors"]
    )
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(formatter.format(record)))

    handler = Capture()
    logging.getLogger().addHandler(handler)
    yield lines
    logging.getLogger().removeHandler(handler)


def test_a_request_logs_one_json_line_with_its_context(json_lines):
    person = person_in()
    client = capillary_client(person.organization, "capillary.otp.write")
    response = post(client, "/v2/otp/generate", generate_body(person))
    (line,) = [line for line in json_lines if line["logger"] == "otpsite.request"]
    api_key = ApiKey.objects.get(organization=person.organization)
    assert line["request_id"] == response["X-Request-ID"]
    assert line["surface"] == "capillary" and line["organization"] == person.organization.pk
    assert line["actor"] == f"api_key:{api_key.key_id}"  # the key's public id, never its secret
    assert line["status"] == 200 and line["path"] == "/v2/otp/generate" and line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_development_prints_each_line_once_as_text():
    script = (
        "import django, logging; django.setup();"
        "from django.test import Client;"
        "Client(HTTP_HOST='localhost').get('/no-such-page/');"
        "logging.getLogger('django.server').error('served once')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"DJANGO_SETTINGS_MODULE": "otpsite.settings", "DJANGO_DEBUG": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stderr.count("Not Found: /no-such-page/") == 1
    assert result.stderr.count("served once") == 1
    assert not result.stderr.lstrip().startswith("{")  # text, not JSON
