"""The store page: email, code, download; the same answer for emails with and without access."""

import re
from collections import Counter

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from credentials.models import IssuedCode
from otpusers import services as otpuser_services
from otpusers.audit import Actor
from otpusers.choices import Visibility
from otpusers.models import AppAccess, AuditEvent
from tests.concurrency import run_in_parallel
from tests.delivery import queued, run_worker
from tests.factories import AppAccessFactory, PublishedApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    access = AppAccessFactory(allowed_downloads_num=2)
    application = access.published_application
    application.build_file.save("acme-beta.ipa", ContentFile(b"BUILD-BYTES" * 100))
    organization = application.store.organization
    organization.resend_cooldown_seconds = 30
    organization.save()
    return access


def urls(access) -> dict:
    application = access.published_application
    args = [application.store.slug, application.slug]
    return {
        name: reverse(f"store:{name}", args=args)
        for name in ("page", "request_code", "verify_code", "download", "sign_out")
    }


def emailed_code() -> str:
    run_worker()
    return re.search(r"^\s+(\d{6})$", mail.outbox[-1].body, re.M).group(1)


def sign_in(client, access) -> None:
    page = urls(access)
    client.post(page["request_code"], {"email": access.otp_user.email.upper()})
    response = client.post(page["verify_code"], {"code": emailed_code()})
    assert response.status_code == 302 and response["Location"] == page["page"]


class TestSignIn:
    def test_the_three_steps(self, client, access):
        page = urls(access)
        first = client.get(page["page"])
        assert first.status_code == 200 and "Send me a code" in first.content.decode()
        requested = client.post(page["request_code"], {"email": access.otp_user.email}, follow=True)
        run_worker()
        assert "a code is on its way" in requested.content.decode() and "Enter the code" in requested.content.decode()
        assert mail.outbox[-1].to == [access.otp_user.email] and mail.outbox[-1].subject == "Your sign-in code"
        signed_in = client.post(page["verify_code"], {"code": emailed_code()}, follow=True)
        body = signed_in.content.decode()
        assert "Download the app" in body and "2 downloads left" in body
        access.refresh_from_db()
        assert access.last_login_at is not None and access.last_download_at is None
        # The dashboard counts them under the store page.
        assert IssuedCode.objects.get(otp_user=access.otp_user).surface == "store"
        assert AuditEvent.objects.get(action="code.verify").detail["surface"] == "store"

    def test_two_downloads_then_a_plain_refusal(self, client, access):
        sign_in(client, access)
        page = urls(access)
        for _ in range(2):
            response = client.post(page["download"])
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == b"BUILD-BYTES" * 100
            assert "attachment" in response["Content-Disposition"] and ".ipa" in response["Content-Disposition"]
        refused = client.post(page["download"], follow=True).content.decode()
        assert "You have used all the downloads" in refused and "Download the app" not in refused
        access.refresh_from_db()
        assert access.downloads_used == 2 and access.last_download_at is not None

    def test_wrong_codes_count_down_then_need_a_new_code(self, client, access):
        page = urls(access)
        client.post(page["request_code"], {"email": access.otp_user.email})
        wrong = "000000" if emailed_code() != "000000" else "111111"
        for left in (4, 3, 2, 1, 0):
            body = client.post(page["verify_code"], {"code": wrong}, follow=True).content.decode()
            assert "That code is not right" in body
            assert (f"{left} attempt" in body) if left else "No attempts left" in body
        body = client.post(page["verify_code"], {"code": emailed_code()}, follow=True).content.decode()
        assert "Too many attempts" in body and "Download the app" not in body

    def test_resend_waits_for_the_cooldown(self, client, access, clock):
        page = urls(access)
        client.post(page["request_code"], {"email": access.otp_user.email})
        body = client.post(page["request_code"], {"resend": "1"}, follow=True).content.decode()
        run_worker()
        assert "Please wait" in body and len(mail.outbox) == 1
        clock.advance(seconds=31)
        assert "Send a new code" in client.get(page["page"]).content.decode()

    def test_an_expired_code_fails(self, client, access, clock):
        page = urls(access)
        client.post(page["request_code"], {"email": access.otp_user.email})
        code = emailed_code()
        clock.advance(minutes=11)
        assert (
            "That code is not right" in client.post(page["verify_code"], {"code": code}, follow=True).content.decode()
        )

    def test_the_sign_in_is_bound_to_one_application(self, client, access):
        sign_in(client, access)
        other = PublishedApplicationFactory(store=access.published_application.store)
        AppAccessFactory(published_application=other, otp_user=access.otp_user)
        other_page = reverse("store:page", args=[other.store.slug, other.slug])
        assert "Send me a code" in client.get(other_page).content.decode()
        assert client.post(reverse("store:download", args=[other.store.slug, other.slug])).status_code == 302

    def test_the_sign_in_ends(self, client, access, clock):
        sign_in(client, access)
        clock.advance(minutes=16)
        body = client.post(urls(access)["download"], follow=True).content.decode()
        assert "Your sign-in has ended" in body
        assert AppAccess.objects.get(pk=access.pk).downloads_used == 0

    def test_csrf_is_enforced(self, access):
        client = Client(enforce_csrf_checks=True)
        assert client.post(urls(access)["request_code"], {"email": access.otp_user.email}).status_code == 403
        assert queued() == 0

    def test_an_inactive_application_has_no_page(self, client, access):
        application = access.published_application
        application.visibility = Visibility.INACTIVE
        application.save()
        assert client.get(urls(access)["page"]).status_code == 404

    def test_get_is_not_a_download(self, client, access):
        sign_in(client, access)
        assert client.get(urls(access)["download"]).status_code == 405
        assert AppAccess.objects.get(pk=access.pk).downloads_used == 0


class TestNoTellingWhoHasAccess:
    def test_same_page_same_status_and_same_request_work(self, access):
        answers = []
        for email in (access.otp_user.email, "stranger@example.com"):
            client = Client()
            queries = []

            def record(execute, sql, params, many, context, queries=queries):
                queries.append(re.sub(r'"s\d+_x\d+"', "SAVEPOINT", sql))  # savepoint names count up
                return execute(sql, params, many, context)

            with connection.execute_wrapper(record):
                response = client.post(urls(access)["request_code"], {"email": email})
            page = client.get(response["Location"])
            answers.append(
                (
                    response.status_code,
                    response["Location"],
                    page.status_code,
                    re.sub(
                        r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.content.decode().replace(email, "EMAIL")
                    ),
                    queries,
                )
            )
        assert answers[0] == answers[1]
        assert len(answers[0][4]) >= 2  # the page and session lookups: the request path did run queries
        tasks = list(DBTaskResult.objects.values_list("task_path", flat=True))
        assert tasks == ["credentials.tasks.send_store_code"] * 2 and not mail.outbox
        # The worker: one task emails a code, the other does the decoy and sends nothing.
        run_worker()
        assert [message.to for message in mail.outbox] == [[access.otp_user.email]]
        assert AuditEvent.objects.get(action="store.code_request").reason == "no_access"

    def test_a_code_for_an_email_without_access_is_just_wrong(self, client, access):
        page = urls(access)
        client.post(page["request_code"], {"email": "stranger@example.com"})
        body = client.post(page["verify_code"], {"code": "123456"}, follow=True).content.decode()
        assert "That code is not right" in body


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_twenty_parallel_downloads_with_an_allowance_of_five_take_exactly_five():
    access = AppAccessFactory(allowed_downloads_num=5)
    actor = Actor.system("tests")
    results = run_in_parallel(
        lambda: otpuser_services.app_access_consume_download(access=access, actor=actor), count=20
    )
    assert Counter(results) == {True: 5, False: 15}
    stored = AppAccess.objects.get(pk=access.pk)
    assert stored.downloads_used == 5 and stored.last_download_at is not None
