"""Issue 10, finding 11: parallel sign-ins on one (cloned) session never answer Django's 400
SessionInterrupted; one of them signs in, and the code is used once."""

from collections import Counter

import pytest
from django.conf import settings
from django.test import Client

from otpusers.models import AuditEvent
from tests.concurrency import run_in_parallel
from tests.factories import AppAccessFactory
from tests.store.test_store_page import emailed_code, urls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_fifty_parallel_sign_ins_on_a_cloned_session():
    access = AppAccessFactory()
    page = urls(access)
    first = Client()
    first.post(page["request_code"], {"email": access.otp_user.email})
    code = emailed_code()
    session_key = first.cookies[settings.SESSION_COOKIE_NAME].value

    def sign_in():
        clone = Client(raise_request_exception=False)
        clone.cookies[settings.SESSION_COOKIE_NAME] = session_key
        response = clone.post(page["verify_code"], {"code": code})
        signed_in = response.cookies.get(settings.SESSION_COOKIE_NAME)
        return response.status_code, bool(signed_in and signed_in.value and signed_in.value != session_key)

    results = run_in_parallel(sign_in, count=50)
    assert Counter(status for status, _ in results) == {302: 50}, results
    assert sum(new_session for _, new_session in results) >= 1
    assert AuditEvent.objects.filter(action="code.verify", outcome="success").count() == 1
