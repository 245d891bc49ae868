"""`manage.py prune`."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from credentials.models import DeliveryAttempt, IssuedCode, NewBuildEmail
from otpsite import limits
from otpsite.models import RateLimitCounter
from otpusers.models import AuditEvent
from tests.credentials.helpers import issue, person_in
from tests.delivery import run_worker
from tests.factories import AppAccessFactory

pytestmark = pytest.mark.django_db


def test_removes_what_is_past_retention_in_batches_and_keeps_the_rest(clock, settings):
    settings.OTPSITE_RETENTION_CODES_DAYS, settings.OTPSITE_RETENTION_TASKS_DAYS = 30, 7
    settings.OTPSITE_RETENTION_AUDIT_DAYS = 365
    person = person_in(resend_cooldown_seconds=0, daily_issue_limit=100)
    for _ in range(5):
        issue(person)
    run_worker()
    old_events = AuditEvent.objects.count()
    clock.advance(days=31)
    recent = issue(person).code  # outstanding: kept
    output = StringIO()
    call_command("prune", batch_size=2, stdout=output)
    assert list(IssuedCode.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not DeliveryAttempt.objects.exclude(issued_code=recent).exists()
    assert DBTaskResult.objects.count() == 1  # the recent code's task, not finished yet
    assert AuditEvent.objects.count() == old_events + 2  # a year of audit is kept; + the issue and the prune
    text = output.getvalue()
    assert "issued codes: 2 removed so far" in text and "issued codes: 5 removed" in text
    assert "finished tasks: 5 removed" in text and "audit events: 0 removed" in text
    assert AuditEvent.objects.get(action="retention.prune").detail == {
        "issued codes": 5,
        "new-build emails": 0,
        "finished tasks": 5,
        "audit events": 0,
        "ended rate-limit windows": 0,
    }
    clock.advance(days=366)
    call_command("prune", stdout=StringIO())
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["retention.prune"]  # this run's own


def test_removes_the_counters_of_ended_rate_limit_windows(clock):
    limits.hit("test", "203.0.113.7", (limits.Rate(5, 60),))
    clock.advance(minutes=2)
    limits.hit("test", "203.0.113.7", (limits.Rate(5, 60),))  # the current window's counter: kept
    output = StringIO()
    call_command("prune", stdout=output)
    assert RateLimitCounter.objects.count() == 1
    assert "ended rate-limit windows: 1 removed" in output.getvalue()


def test_removes_decided_new_build_emails_past_the_codes_retention(clock, settings):
    settings.OTPSITE_RETENTION_CODES_DAYS = 30
    access = AppAccessFactory()
    announcement = uuid.uuid4()
    for status in ("sent", "failed", "retry"):
        NewBuildEmail.objects.create(
            organization=access.otp_user.organization,
            send_id=announcement,
            otp_user=AppAccessFactory(published_application=access.published_application).otp_user,
            published_application=access.published_application,
            email="someone@example.com",
            status=status,
        )
    clock.advance(days=31)
    kept = NewBuildEmail.objects.create(
        organization=access.otp_user.organization,
        send_id=uuid.uuid4(),
        otp_user=access.otp_user,
        published_application=access.published_application,
        email="a@example.com",
    )
    output = StringIO()
    call_command("prune", stdout=output)
    assert sorted(NewBuildEmail.objects.values_list("status", flat=True)) == ["queued", "retry"]  # still the worker's
    assert NewBuildEmail.objects.filter(pk=kept.pk).exists()
    assert "new-build emails: 2 removed" in output.getvalue()
