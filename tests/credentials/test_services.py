import base64
import json

import pytest
from django.core import mail
from django_tasks_db.models import DBTaskResult

from credentials import crypto, services
from credentials.choices import AttemptOutcome, Channel, DeliveryStatus, IdentifierType, Scope, Surface, VerifyOutcome
from credentials.delivery import MemorySmsBackend, Templates
from credentials.models import DeliveryAttempt, IssuedCode
from credentials.services import issued_codes
from otpusers.models import AuditEvent
from tests.credentials.helpers import ACTOR, issue, last_email_code, last_sms_code, person_in, verify
from tests.delivery import queued, run_worker

pytestmark = pytest.mark.django_db


class TestIssue:
    def test_sends_a_code_that_is_stored_only_as_a_digest(self, sms_outbox):
        person = person_in()
        result = issue(person)
        code = last_sms_code()
        assert sms_outbox[-1].to == person.mobile
        assert len(code) == 6 and code.isdigit()
        stored = IssuedCode.objects.get(pk=result.code.pk)
        assert stored.code_sealed == "" and code not in stored.code_digest
        assert stored.delivery_status == DeliveryStatus.SENT
        assert stored.max_attempts == 5 and stored.channels == ["SMS"]
        event = AuditEvent.objects.get(action="code.issue", object_id=stored.public_id)
        assert event.outcome == "success"

    def test_email_uses_the_scope_template_with_text_and_html(self):
        person = person_in()
        services.code_issue(
            organization=person.organization,
            identifier_type=IdentifierType.EMAIL,
            identifier_value=person.email.upper(),
            scope=Scope.STORE_LOGIN,
            destinations=[services.Destination(Channel.EMAIL, "")],
            actor=ACTOR,
            surface=Surface.INTERNAL,
        )
        assert not mail.outbox  # sent by the worker, not by the caller
        run_worker()
        message = mail.outbox[-1]
        assert message.to == [person.email] and message.subject == "Your sign-in code"
        code = last_email_code()
        assert code in message.alternatives[0].content and "download the app" in message.body

    def test_caller_templates_are_filled_by_substitution_only(self, sms_outbox):
        person = person_in()
        issue(person, templates=Templates(sms="Code {{validation_code}} {% now 'Y' %} {{ settings }}"))
        run_worker()
        body = sms_outbox[-1].body
        assert body.startswith("Code ") and "{% now 'Y' %} {{ settings }}" in body

    def test_a_new_code_supersedes_the_outstanding_one(self, clock):
        person = person_in(resend_cooldown_seconds=0)
        first = issue(person).code
        first_code = last_sms_code()
        second = issue(person).code
        second_code = last_sms_code()
        first.refresh_from_db()
        assert first.superseded_at is not None and second.pk != first.pk
        # The check is against the newest code only; the old one is a wrong guess (unless both are equal).
        expected = VerifyOutcome.SUCCESS if first_code == second_code else VerifyOutcome.WRONG
        assert verify(person, first_code) == expected

    def test_the_capillary_case_resends_a_still_valid_code(self, sms_outbox):
        person = person_in(resend_cooldown_seconds=0, code_read_back_allowed=True)
        first = issue(person, resend_outstanding=True)
        first_code = last_sms_code()
        again = issue(person, resend_outstanding=True)
        assert again.resent and again.code.pk == first.code.pk
        assert last_sms_code() == first_code
        assert IssuedCode.objects.get(pk=first.code.pk).send_count == 2

    def test_a_resend_is_not_held_back_by_the_cooldown_but_by_the_daily_limit(self, clock):
        person = person_in(resend_cooldown_seconds=30, daily_issue_limit=3, code_read_back_allowed=True)
        first = issue(person, resend_outstanding=True)
        first_code = last_sms_code()
        clock.advance(seconds=1)
        again = issue(person, resend_outstanding=True)
        assert again.resent and again.code.pk == first.code.pk and last_sms_code() == first_code
        issue(person, resend_outstanding=True)
        with pytest.raises(services.DailyLimitReached):
            issue(person, resend_outstanding=True)
        assert IssuedCode.objects.get().send_count == 3

    def test_without_read_back_the_cooldown_still_holds_a_resend_request(self):
        person = person_in(resend_cooldown_seconds=30)
        issue(person, resend_outstanding=True)
        with pytest.raises(services.CooldownActive):
            issue(person, resend_outstanding=True)

    def test_without_read_back_a_resend_request_issues_a_new_code(self):
        person = person_in(resend_cooldown_seconds=0)
        first = issue(person, resend_outstanding=True)
        again = issue(person, resend_outstanding=True)
        assert not again.resent and again.code.pk != first.code.pk

    def test_cooldown_per_scope(self, clock):
        person = person_in(resend_cooldown_seconds=30)
        issue(person)
        with pytest.raises(services.CooldownActive) as refused:
            issue(person)
        assert refused.value.retry_after == 30
        issue(person, scope=Scope.POINTS)  # another scope is not held back
        clock.advance(seconds=30)
        issue(person)
        assert AuditEvent.objects.filter(action="code.issue", reason="resend cooldown active").count() == 1

    def test_the_daily_limit_is_a_rolling_24_hours(self, clock):
        person = person_in(daily_issue_limit=3, resend_cooldown_seconds=0)
        for _ in range(3):
            issue(person)
            clock.advance(hours=1)
        with pytest.raises(services.DailyLimitReached) as refused:
            issue(person)
        assert refused.value.retry_after == 21 * 3600
        clock.advance(hours=21)
        issue(person)

    def test_resends_count_against_the_daily_limit(self):
        person = person_in(daily_issue_limit=2, resend_cooldown_seconds=0, code_read_back_allowed=True)
        issue(person, resend_outstanding=True)
        issue(person, resend_outstanding=True)
        with pytest.raises(services.DailyLimitReached):
            issue(person, resend_outstanding=True)

    def test_an_unknown_recipient_is_refused_and_audited(self):
        person = person_in()
        with pytest.raises(services.RecipientUnknown):
            services.code_issue(
                organization=person.organization,
                identifier_type=IdentifierType.MOBILE,
                identifier_value="+10000000000",
                scope=Scope.GENERIC,
                destinations=[services.Destination(Channel.SMS, "+10000000000")],
                actor=ACTOR,
                surface=Surface.INTERNAL,
            )
        assert AuditEvent.objects.get(action="code.issue").reason == "unknown_recipient"
        assert not IssuedCode.objects.exists()

    def test_a_person_without_an_address_for_the_channel(self):
        person = person_in()
        person.email = ""
        person.save()
        with pytest.raises(services.DestinationMissing):
            issue(person, channel=Channel.EMAIL)

    def test_a_channel_without_a_backend_is_refused_at_once_and_nothing_is_issued(self, settings):
        settings.OTPSITE_SMS_BACKEND = ""
        person = person_in()
        with pytest.raises(services.ChannelUnavailable):
            issue(person)
        assert not IssuedCode.objects.exists() and queued() == 0


class TestDelivery:
    def test_issuing_queues_one_task_and_the_worker_sends_it(self, sms_outbox):
        person = person_in()
        result = issue(person)
        assert queued() == 1 and not MemorySmsBackend.outbox  # nothing is sent on the caller's path
        assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.PENDING
        assert run_worker() == 1
        assert [message.to for message in sms_outbox] == [person.mobile]
        attempt = DeliveryAttempt.objects.get()
        assert (attempt.issued_code_id, attempt.channel, attempt.number) == (result.code.pk, "SMS", 1)
        assert attempt.outcome == AttemptOutcome.SENT and attempt.provider_answer == "kept in memory"
        assert attempt.duration_ms is not None
        assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.SENT

    def test_a_transient_failure_is_tried_again_after_the_backoff(self, clock, sms_outbox):
        person = person_in()
        MemorySmsBackend.fail_next = 1
        result = issue(person)
        run_worker()
        assert not sms_outbox and queued() == 0  # the retry waits 30 s
        stored = IssuedCode.objects.get(pk=result.code.pk)
        assert stored.delivery_status == DeliveryStatus.PENDING and "told to fail" in stored.delivery_error
        clock.advance(seconds=30)
        assert run_worker() == 1
        assert len(sms_outbox) == 1
        outcomes = list(DeliveryAttempt.objects.order_by("number").values_list("number", "outcome"))
        assert outcomes == [(1, AttemptOutcome.RETRY), (2, AttemptOutcome.SENT)]
        assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.SENT

    def test_three_failed_tries_fail_for_good_visibly_and_still_count(self, clock):
        person = person_in(daily_issue_limit=1)
        MemorySmsBackend.fail_next = 3
        result = issue(person)
        for delay in (0, 30, 90):
            clock.advance(seconds=delay)
            assert run_worker() == 1
        stored = IssuedCode.objects.get(pk=result.code.pk)
        assert stored.delivery_status == DeliveryStatus.FAILED and "told to fail" in stored.delivery_error
        outcomes = list(DeliveryAttempt.objects.order_by("number").values_list("outcome", flat=True))
        assert outcomes == [AttemptOutcome.RETRY, AttemptOutcome.RETRY, AttemptOutcome.FAILED]
        assert AuditEvent.objects.filter(action="code.deliver", reason="delivery_failed").count() == 1
        clock.advance(days=1)
        assert run_worker() == 0
        clock.advance(days=-1)
        with pytest.raises(services.DailyLimitReached):
            issue(person)

    def test_a_refusal_by_the_provider_is_not_tried_again(self, settings):
        settings.OTPSITE_SMS_BACKEND = "credentials.delivery.WebhookSmsBackend"
        settings.OTPSITE_SMS_WEBHOOK_URL = ""
        person = person_in()
        with pytest.raises(services.ChannelUnavailable):
            issue(person)
        settings.OTPSITE_SMS_BACKEND = "credentials.delivery.MemorySmsBackend"
        result = issue(person)
        settings.OTPSITE_SMS_BACKEND = "credentials.delivery.WebhookSmsBackend"  # unset again before sending
        run_worker()
        assert DeliveryAttempt.objects.get().outcome == AttemptOutcome.FAILED and queued() == 0
        assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.FAILED

    def test_a_task_run_twice_sends_once(self, sms_outbox):
        person = person_in()
        issue(person)
        run_worker()
        # As if the worker had died after sending but before finishing the task: it runs again.
        DBTaskResult.objects.update(status="READY", started_at=None)
        assert run_worker() == 1
        assert len(sms_outbox) == 1 and DeliveryAttempt.objects.count() == 1

    def test_a_try_interrupted_mid_send_is_sent_again_with_the_same_key(self, sms_outbox):
        person = person_in()
        result = issue(person)
        task = DBTaskResult.objects.get()
        send_id = task.args_kwargs["kwargs"]["send_id"]
        # The dead worker had recorded its try and begun sending when it was killed.
        DeliveryAttempt.objects.create(
            issued_code=result.code, send_id=send_id, channel="SMS", number=1, outcome=AttemptOutcome.SENDING
        )
        run_worker()
        assert [message.idempotency_key for message in sms_outbox] == [f"{send_id}-SMS"]
        outcomes = set(DeliveryAttempt.objects.values_list("outcome", flat=True))
        assert outcomes == {AttemptOutcome.INTERRUPTED, AttemptOutcome.SENT}

    def test_a_queued_code_whose_key_was_dropped_fails_clearly_once(self, settings, sms_outbox):
        person = person_in()
        result = issue(person)
        key_id = crypto.key_id_of(DBTaskResult.objects.get().args_kwargs["kwargs"]["sealed"])
        settings.OTPSITE_ENCRYPTION_KEYS = ["other:" + base64.urlsafe_b64encode(bytes(range(32))).decode()]
        assert run_worker() == 1
        assert not MemorySmsBackend.outbox
        attempt = DeliveryAttempt.objects.get()
        assert (attempt.channel, attempt.outcome) == ("SMS", AttemptOutcome.FAILED)
        assert attempt.provider_answer == (
            f"Not sent: the queued code cannot be read. No key {key_id!r} in OTPSITE_ENCRYPTION_KEYS."
        )
        stored = IssuedCode.objects.get(pk=result.code.pk)
        assert stored.delivery_status == DeliveryStatus.FAILED
        assert stored.delivery_error == f"SMS: {attempt.provider_answer}"
        assert AuditEvent.objects.get(action="code.deliver").reason == "delivery_failed"
        assert DBTaskResult.objects.get().status == "SUCCESSFUL"  # decided, not an error to try again
        # Run again (a worker died before finishing it): nothing more is recorded or audited.
        DBTaskResult.objects.update(status="READY", started_at=None)
        assert run_worker() == 1
        assert DeliveryAttempt.objects.count() == 1 and AuditEvent.objects.filter(action="code.deliver").count() == 1

    def test_the_code_travels_sealed_in_the_task(self):
        person = person_in()
        issue(person)
        arguments = json.dumps(DBTaskResult.objects.get().args_kwargs)
        code = last_sms_code()
        assert code not in arguments.replace(person.mobile, "")


class TestVerify:
    def test_the_right_code_works_once(self):
        person = person_in()
        issue(person)
        code = last_sms_code()
        assert verify(person, f" {code[:3]}-{code[3:]} ") == VerifyOutcome.SUCCESS
        assert verify(person, code) == VerifyOutcome.USED

    def test_wrong_guesses_lock_the_code_at_the_maximum(self):
        person = person_in(code_max_attempts=3)
        issue(person)
        code = last_sms_code()
        wrong = "000000" if code != "000000" else "111111"
        assert [verify(person, wrong) for _ in range(4)] == [VerifyOutcome.WRONG] * 3 + [VerifyOutcome.LOCKED]
        assert verify(person, code) == VerifyOutcome.LOCKED
        stored = IssuedCode.objects.get(otp_user=person)
        assert stored.attempts == 3 and stored.locked_at is not None

    def test_an_expired_code_fails(self, clock):
        person = person_in(code_validity_seconds=60)
        issue(person)
        code = last_sms_code()
        clock.advance(seconds=60)
        assert verify(person, code) == VerifyOutcome.EXPIRED

    def test_a_superseded_code_no_longer_works(self):
        person = person_in(resend_cooldown_seconds=0)
        issue(person)
        old = last_sms_code()
        issue(person)
        new = last_sms_code()
        if old != new:
            assert verify(person, old) == VerifyOutcome.WRONG
        assert verify(person, new) == VerifyOutcome.SUCCESS

    def test_codes_are_per_scope(self):
        person = person_in()
        issue(person, scope=Scope.POINTS)
        assert verify(person, last_sms_code(), scope=Scope.COUPON) == VerifyOutcome.NO_CODE

    def test_every_outcome_is_audited_with_its_reason(self):
        person = person_in()
        issue(person)
        verify(person, "not-it")
        services.code_verify(
            organization=person.organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value="+1999",
            scope=Scope.GENERIC,
            code="123456",
            actor=ACTOR,
            surface=Surface.INTERNAL,
        )
        reasons = list(AuditEvent.objects.filter(action="code.verify").values_list("reason", flat=True))
        assert sorted(reasons) == ["unknown_recipient", "wrong"]

    @pytest.mark.parametrize(
        ("meanwhile", "outcome", "attempts"),
        [
            ({"consumed_at": "now"}, VerifyOutcome.USED, 0),  # a parallel check used the code
            ({"attempts": 1}, VerifyOutcome.WRONG, 2),  # a parallel wrong guess was counted first
        ],
    )
    def test_a_check_whose_code_changed_since_it_read_it_writes_nothing_and_starts_again(
        self, monkeypatch, clock, meanwhile, outcome, attempts
    ):
        person = person_in()
        issue(person)
        code = last_sms_code()
        guess = code if outcome == VerifyOutcome.USED else ("000000" if code != "000000" else "111111")
        reads = []

        def read_then_race(**kwargs):
            found = reading(**kwargs)
            if not reads:
                changes = {name: clock.now if value == "now" else value for name, value in meanwhile.items()}
                IssuedCode.objects.filter(pk=found[1].pk).update(**changes)
            reads.append(found)
            return found

        reading = issued_codes._person_and_latest_code
        monkeypatch.setattr(issued_codes, "_person_and_latest_code", read_then_race)
        assert verify(person, guess) == outcome
        assert len(reads) == 2
        stored = IssuedCode.objects.get(otp_user=person)
        assert stored.attempts == attempts
        assert list(AuditEvent.objects.filter(action="code.verify").values_list("reason", flat=True)) == [outcome]

    def test_a_read_made_ahead_saves_the_read_for_its_own_inputs_only(self, django_assert_num_queries):
        from django.db import connection

        person = person_in()
        issue(person)
        code = last_sms_code()

        def made_ahead(scope):
            ahead = services.code_check_ahead(
                organization_id=person.organization_id,
                identifier_type=IdentifierType.MOBILE,
                identifier_value=person.mobile,
                scope=scope,
            )
            with connection.cursor() as cursor:
                cursor.execute(ahead.sql, ahead.parameters)
                ahead.ran, ahead.row = True, cursor.fetchone()
            return ahead

        other_scope = made_ahead(Scope.COUPON)
        with django_assert_num_queries(2):  # read again (made for another scope), then the write
            assert services.code_verify(**self.checking(person, "000000"), ahead=other_scope) == VerifyOutcome.WRONG
        same = made_ahead(Scope.GENERIC)
        with django_assert_num_queries(1):  # the write alone
            assert services.code_verify(**self.checking(person, code), ahead=same) == VerifyOutcome.SUCCESS

    @staticmethod
    def checking(person, code) -> dict:
        return {
            "organization": person.organization,
            "identifier_type": IdentifierType.MOBILE,
            "identifier_value": person.mobile,
            "scope": Scope.GENERIC,
            "code": code,
            "actor": ACTOR,
            "surface": Surface.INTERNAL,
        }


class TestReadBack:
    def test_the_most_recent_valid_code_within_the_threshold(self, clock):
        person = person_in(code_read_back_allowed=True, resend_cooldown_seconds=0)
        issue(person, scope=Scope.POINTS)
        clock.advance(seconds=50)
        issue(person, scope=Scope.POINTS)
        latest = last_sms_code()
        issued, code = services.code_read_back(
            organization=person.organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value=person.mobile,
            scope=Scope.POINTS,
            threshold_seconds=60,
            actor=ACTOR,
        )
        assert code == latest
        clock.advance(seconds=61)
        with pytest.raises(services.NoValidCode):
            services.code_read_back(
                organization=person.organization,
                identifier_type=IdentifierType.MOBILE,
                identifier_value=person.mobile,
                scope=Scope.POINTS,
                threshold_seconds=60,
                actor=ACTOR,
            )
        events = AuditEvent.objects.filter(action="code.read_back")
        assert sorted(events.values_list("outcome", flat=True)) == ["failure", "success"]

    def test_refused_when_the_organization_keeps_codes_hashed(self):
        person = person_in(code_read_back_allowed=False)
        issue(person)
        with pytest.raises(services.ReadBackDisabled):
            services.code_read_back(
                organization=person.organization,
                identifier_type=IdentifierType.MOBILE,
                identifier_value=person.mobile,
                scope=Scope.GENERIC,
                threshold_seconds=None,
                actor=ACTOR,
            )
        assert AuditEvent.objects.get(action="code.read_back").reason == "read_back_disabled"

    def test_read_back_does_not_use_the_code(self):
        person = person_in(code_read_back_allowed=True)
        issue(person)
        issued, code = services.code_read_back(
            organization=person.organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value=person.mobile,
            scope=Scope.GENERIC,
            threshold_seconds=None,
            actor=ACTOR,
        )
        assert crypto.key_id_of(issued.code_sealed) == crypto.current_key_id()
        assert verify(person, code) == VerifyOutcome.SUCCESS


def test_revoke_only_touches_outstanding_codes():
    person = person_in()
    issued = issue(person).code
    assert services.code_revoke(issued=issued, actor=ACTOR) is True
    assert services.code_revoke(issued=issued, actor=ACTOR) is False
    assert verify(person, last_sms_code()) == VerifyOutcome.REVOKED


def test_a_backend_that_breaks_counts_as_a_failed_try(settings, monkeypatch, sms_outbox):
    def broken(self, message):
        raise RuntimeError("bug in a custom backend")

    monkeypatch.setattr(MemorySmsBackend, "send", broken)
    issue(person_in())
    run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert (
        attempt.outcome == AttemptOutcome.RETRY and attempt.provider_answer == "RuntimeError: bug in a custom backend"
    )
