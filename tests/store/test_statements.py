"""SQL statements per step of the store page (transaction control not counted). The session lives in the
database, so a step with a session reads it (1) and a step that changes it writes it (1 or 2)."""

import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from tests.factories import AppAccessFactory
from tests.statements import at_most

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    access = AppAccessFactory(allowed_downloads_num=5)
    access.published_application.build_file.save("beta.ipa", ContentFile(b"BUILD"))
    return access


def url(access, name) -> str:
    application = access.published_application
    return reverse(f"store:{name}", args=[application.store.slug, application.slug])


def test_every_step(access, mailoutbox):
    client = Client()
    with at_most(1, "store: the email step"):
        assert client.get(url(access, "page")).status_code == 200
    with at_most(STEP_BUDGETS["request_code"], "asking for a code (queued: the worker issues and emails it)"):
        assert client.post(url(access, "request_code"), {"email": access.otp_user.email}).status_code == 302
    with at_most(STEP_BUDGETS["code_page"], "the code step"):
        assert client.get(url(access, "page")).status_code == 200
    code = re.search(r"^\s+(\d{6})$", mailoutbox[-1].body, re.M).group(1)
    with at_most(STEP_BUDGETS["verify_code"], "signing in with the code"):
        assert client.post(url(access, "verify_code"), {"code": code}).status_code == 302
    with at_most(STEP_BUDGETS["download_page"], "the download step"):
        assert "Download the app" in client.get(url(access, "page")).content.decode()
    with at_most(STEP_BUDGETS["download"], "a download"):
        response = client.post(url(access, "download"))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"BUILD"


# Measured with the session in the database: asking for a code is the application (1), the queued task (1)
# and the new session (2); the access lookup and the code issue run on the delivery worker. Signing in is
# the application and session (2), the check (3), the access (1), its login and audit (2) and the session
# moved to its new key with the signed-in data (1, otpsite/sessions.py).
STEP_BUDGETS = {
    "request_code": 4,
    "code_page": 2,
    "verify_code": 7,
    "download_page": 3,
    "download": 5,
}
