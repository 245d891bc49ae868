"""A new build notifies the application's OTP users (Applivery's notifications.newBuildNotifyOtpUsers):
exactly the people with access, active, with an email and downloads left, through the delivery path."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from credentials import notifications
from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AuditEvent, PublishedApplication
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
    assert summary.detail == {"sent": 3, "failed": 0} and summary.object_id == application.public_id
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


def test_a_failed_email_is_audited_and_the_others_still_go(application, people, mailoutbox, monkeypatch):
    real = notifications.delivery.send_new_build_email

    def flaky(*, to, **kwargs):
        if to == "fresh@example.com":
            raise notifications.delivery.DeliveryError("mail server down")
        real(to=to, **kwargs)

    monkeypatch.setattr(notifications.delivery, "send_new_build_email", flaky)
    sent = notifications.notify_new_build(
        published_application_id=application.pk, store_page_url=STORE_PAGE, actor=ACTOR
    )
    assert sent == 2 and len(mailoutbox) == 2
    failure = AuditEvent.objects.get(action="published_application.notify_new_build", outcome="failure")
    assert failure.object_id == people["told_never_used"].public_id and failure.reason == "delivery_failed"


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
