"""A new build notifies the application's OTP users (Applivery's notifications.newBuildNotifyOtpUsers):
exactly the people with access, active, with an email and downloads left, through the delivery path."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from credentials import notifications
from credentials.models import NewBuildEmail
from otpusers import services
from otpusers.audit import Actor, audit_object_key
from otpusers.models import AuditEvent, PublishedApplication
from tests.delivery import queued, run_worker
from tests.factories import AppAccessFactory, OtpUserFactory, PublishedApplicationFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")
STORE_PAGE = "https://otp.example.com/store/acme/beta/"


@pytest.fixture
def application():
    return PublishedApplicationFactory(name="Acme Beta", notify_otp_users_on_new_build=True)


@pytest.fixture
def people(application):
    """Who has what: the ones named `told_*` are the ones to email."""
    organization = application.store.organization

    def access(email, allowed, used=0, **person):
        return AppAccessFactory(
            published_application=application,
            otp_user=OtpUserFactory(organization=organization, email=email, **person),
            allowed_downloads_num=allowed,
            downloads_used=used,
        )

    return {
        "told_unlimited": access("unlimited@example.com", -1, used=40),
        "told_one_left": access("one.left@example.com", 3, used=2),
        "told_never_used": access("fresh@example.com", 1),
        "used_up": access("used.up@example.com", 2, used=2),
        "zero_allowed": access("zero@example.com", 0),
        "deactivated": access("gone@example.com", -1, is_valid=False),
        "no_email": access("", -1, mobile="+4915100000099"),
        "other_application": AppAccessFactory(
            published_application=PublishedApplicationFactory(store=application.store),
            otp_user=OtpUserFactory(organization=organization, email="elsewhere@example.com"),
            allowed_downloads_num=-1,
        ),
    }


def announce(application, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.published_application_announce_build(
            published_application=application, store_page_url=STORE_PAGE, actor=ACTOR
        )


def test_exactly_the_people_with_allowance_left_are_emailed(
    application, people, mailoutbox, django_capture_on_commit_callbacks
):
    assert announce(application, django_capture_on_commit_callbacks) is True
    told = {name.removeprefix("told_") for name in people if name.startswith("told_")}
    expected = {people[f"told_{name}"].otp_user.email for name in told}
    assert sorted(message.to[0] for message in mailoutbox) == sorted(expected)
    one_left = next(message for message in mailoutbox if message.to == ["one.left@example.com"])
    assert one_left.subject == "A new build of Acme Beta is ready"
    assert STORE_PAGE in one_left.body and "1 download left" in one_left.body
    assert STORE_PAGE in one_left.alternatives[0][0]
    unlimited = next(message for message in mailoutbox if message.to == ["unlimited@example.com"])
    assert "as often as you like" in unlimited.body
    summary = AuditEvent.objects.get(action="published_application.notify_new_build")
    assert summary.detail == {"sent": 3, "failed": 0, "retrying": 0} and summary.object_id == application.public_id
    assert AuditEvent.objects.get(action="published_application.new_build").detail["notify_otp_users"] is True


def test_nobody_is_emailed_when_the_application_does_not_notify(
    application, people, mailoutbox, django_capture_on_commit_callbacks
):
    application.notify_otp_users_on_new_build = False
    assert announce(application, django_capture_on_commit_callbacks) is False
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action="published_application.notify_new_build").exists()


def test_nothing_is_sent_before_the_upload_commits(application, people, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.published_application_announce_build(
            published_application=application, store_page_url=STORE_PAGE, actor=ACTOR
        )
    assert mailoutbox == [] and len(callbacks) == 1


def fail_for(monkeypatch, address: str, *, times: int, permanent: bool = False) -> list[str]:
    """The mail server fails the next `times` emails to `address` (transiently, or for good); the others go
    out. Answers the Message-IDs of every try at `address`."""
    real = notifications.delivery.send_new_build_email
    tries = []

    def flaky(*, to, **kwargs):
        if to == address:
            tries.append(kwargs["key"])
            if len(tries) <= times:
                raise notifications.delivery.DeliveryError("451 mail server busy", permanent=permanent)
        return real(to=to, **kwargs)

    monkeypatch.setattr(notifications.delivery, "send_new_build_email", flaky)
    return tries


def emails_to(mailoutbox) -> list[str]:
    return sorted(message.to[0] for message in mailoutbox)


TOLD = ["fresh@example.com", "one.left@example.com", "unlimited@example.com"]


def test_a_transient_failure_is_tried_again_after_the_backoff_and_sent_once(
    application, people, mailoutbox, monkeypatch, clock, django_capture_on_commit_callbacks
):
    tries = fail_for(monkeypatch, "fresh@example.com", times=1)
    announce(application, django_capture_on_commit_callbacks)
    assert emails_to(mailoutbox) == ["one.left@example.com", "unlimited@example.com"]
    row = NewBuildEmail.objects.get(email="fresh@example.com")
    assert (row.status, row.number, row.provider_answer) == ("retry", 1, "451 mail server busy")
    assert queued() == 0  # the retry waits OTPSITE_DELIVERY_RETRY_DELAYS[0] (30 s)
    summary = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="success")
    assert summary.detail == {"sent": 2, "failed": 0, "retrying": 1}

    clock.advance(seconds=29)
    assert run_worker() == 0
    clock.advance(seconds=1)
    assert run_worker() == 1
    assert emails_to(mailoutbox) == TOLD  # one each
    fresh = next(message for message in mailoutbox if message.to == ["fresh@example.com"])
    assert len(set(tries)) == 1 and fresh.extra_headers["Message-ID"] == f"<{tries[0]}@otpsite>"
    row.refresh_from_db()
    assert (row.status, row.number) == ("sent", 2)
    assert not AuditEvent.objects.filter(outcome="failure").exists()
    clock.advance(days=1)
    assert run_worker() == 0 and len(mailoutbox) == 3


def test_three_transient_failures_fail_for_good_and_are_audited(
    application, people, mailoutbox, monkeypatch, clock, django_capture_on_commit_callbacks
):
    tries = fail_for(monkeypatch, "fresh@example.com", times=3)
    announce(application, django_capture_on_commit_callbacks)
    for delay in (0, 30, 90):
        clock.advance(seconds=delay)
        assert run_worker() == 1
    assert len(tries) == 3 and queued() == 0
    assert emails_to(mailoutbox) == ["one.left@example.com", "unlimited@example.com"]
    row = NewBuildEmail.objects.get(email="fresh@example.com")
    assert (row.status, row.number) == ("failed", 3)
    failure = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="failure")
    assert failure.object_id == people["told_never_used"].public_id and failure.reason == "delivery_failed"
    assert failure.detail == {"error": "451 mail server busy", "tries": 3}


def test_a_refusal_is_audited_at_once_and_not_tried_again(
    application, people, mailoutbox, monkeypatch, clock, django_capture_on_commit_callbacks
):
    tries = fail_for(monkeypatch, "fresh@example.com", times=1, permanent=True)
    announce(application, django_capture_on_commit_callbacks)
    assert emails_to(mailoutbox) == ["one.left@example.com", "unlimited@example.com"]
    assert queued() == 0 and len(tries) == 1
    assert NewBuildEmail.objects.get(email="fresh@example.com").status == "failed"
    failure = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="failure")
    assert failure.object_id == people["told_never_used"].public_id and failure.reason == "delivery_failed"
    summary = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="success")
    assert summary.detail == {"sent": 2, "failed": 1, "retrying": 0}
    clock.advance(days=1)
    assert run_worker() == 0 and len(tries) == 1


class WorkerKilled(BaseException):
    """Stands for the worker's process dying mid-send: nothing after it runs."""


def test_a_task_taken_up_again_after_the_worker_died_mid_notification_emails_nobody_twice(
    application, people, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    real = notifications.delivery.send_new_build_email
    keys = []

    def dies_at_the_second(*, to, **kwargs):
        keys.append((to, kwargs["key"]))
        if len(keys) == 2:
            raise WorkerKilled
        return real(to=to, **kwargs)

    monkeypatch.setattr(notifications.delivery, "send_new_build_email", dies_at_the_second)
    with django_capture_on_commit_callbacks(execute=True):
        services.published_application_announce_build(
            published_application=application, store_page_url=STORE_PAGE, actor=ACTOR
        )
    run_worker()
    # The first person was emailed; the worker died sending to the second; the third was not reached.
    first, second = (to for to, _ in keys)
    assert [message.to[0] for message in mail.outbox] == [first]
    statuses = dict(NewBuildEmail.objects.values_list("email", "status"))
    assert sorted(statuses.values()) == ["queued", "sending", "sent"] and statuses[second] == "sending"

    # Another worker takes the task back (credentials/worker.py) and runs it again.
    DBTaskResult.objects.update(status="READY", started_at=None)
    assert run_worker() == 1
    assert emails_to(mail.outbox) == TOLD  # one each: the first not again
    again = next(message for message in mail.outbox if message.to == [second])
    assert again.extra_headers["Message-ID"] == f"<{dict(keys)[second]}@otpsite>"  # the same message
    assert set(NewBuildEmail.objects.values_list("status", flat=True)) == {"sent"}
    # And once more, as if it died after finishing: nothing is sent again, nobody is added twice.
    DBTaskResult.objects.update(status="READY", started_at=None)
    assert run_worker() == 1
    assert len(mail.outbox) == 3 and NewBuildEmail.objects.count() == 3


def test_the_selection_is_one_query_whatever_the_number_of_people(application, people, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(list(notifications.accesses_to_notify(application.pk))) == 3


def test_uploading_a_build_in_the_admin_notifies(
    superuser_client, application, people, mailoutbox, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    url = f"/admin/otpusers/publishedapplication/{application.pk}/change/"
    form = {
        "store": application.store.pk,
        "name": application.name,
        "slug": application.slug,
        "visibility": application.visibility,
        "application_public_id": application.application_public_id,
        "notify_otp_users_on_new_build": "on",
        "build_file": SimpleUploadedFile("beta-2.apk", b"new build"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    assert PublishedApplication.objects.get(pk=application.pk).build_file.name.endswith(".apk")
    assert len(mailoutbox) == 3
    link = f"http://testserver/store/{application.store.slug}/{application.slug}/"
    assert all(link in message.body for message in mailoutbox)
    # Saving again without a new build tells nobody again.
    form.pop("build_file")
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(url, form)
    assert len(mailoutbox) == 3


def test_staff_see_who_was_told_and_why_an_email_failed(
    superuser_client, application, people, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    fail_for(monkeypatch, "fresh@example.com", times=1, permanent=True)
    announce(application, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    changelist = reverse("admin:credentials_newbuildemail_changelist")
    failed = superuser_client.get(changelist, {"status__exact": "failed"})
    assert [row.email for row in failed.context["cl"].result_list] == ["fresh@example.com"]
    assert "451 mail server busy" in failed.content.decode()
    found = superuser_client.get(changelist, {"q": "FRESH@example.com"})
    assert [row.email for row in found.context["cl"].result_list] == ["fresh@example.com"]
    row = NewBuildEmail.objects.get(email="fresh@example.com")
    assert superuser_client.get(reverse("admin:credentials_newbuildemail_change", args=[row.pk])).status_code == 200
    assert superuser_client.get(reverse("admin:credentials_newbuildemail_add")).status_code == 403


def test_a_person_whose_access_was_removed_before_the_retry_is_not_emailed(
    application, people, mailoutbox, monkeypatch, clock, django_capture_on_commit_callbacks
):
    tries = fail_for(monkeypatch, "fresh@example.com", times=1)
    announce(application, django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    person = people["told_never_used"].otp_user
    people["told_never_used"].delete()
    clock.advance(seconds=30)
    assert run_worker() == 1
    assert len(tries) == 1 and len(mailoutbox) == 2
    row = NewBuildEmail.objects.get(email="fresh@example.com")
    assert row.status == "failed" and "no longer has access" in row.provider_answer
    failure = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="failure")
    assert (failure.object_type, failure.object_id) == audit_object_key(person)
