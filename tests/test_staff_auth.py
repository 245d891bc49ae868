"""Staff sign-in: django-axes lockout by username and by address, sign-ins and failures in the audit trail,
and the second factor (TOTP with QR enrolment, backup codes) required when OTPSITE_STAFF_TWO_FACTOR is on."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from otpusers.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/?next=/admin/"


def sign_in(client: Client, username: str, password: str = PASSWORD):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def current_token(device: TOTPDevice) -> str:
    return TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()


@pytest.fixture
def staff():
    return UserFactory(username="alice", is_superuser=True)


class TestLockout:
    def test_five_failures_lock_the_username_even_against_the_right_password(self, staff, settings):
        attacker = Client(REMOTE_ADDR="198.51.100.7")
        statuses = [sign_in(attacker, "alice", "wrong").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks
        locked = sign_in(Client(REMOTE_ADDR="203.0.113.1"), "alice")
        assert locked.status_code == 429 and "_auth_user_id" not in locked.client.session
        # Another user, from another address, is not affected.
        UserFactory(username="bob", is_staff=True)
        assert sign_in(Client(REMOTE_ADDR="203.0.113.2"), "bob").status_code == 302

    def test_five_failures_lock_the_address_for_every_username(self, staff):
        UserFactory(username="bob", is_staff=True)
        attacker = Client(REMOTE_ADDR="198.51.100.8")
        for index in range(5):
            sign_in(attacker, f"guess{index}", "wrong")
        assert sign_in(attacker, "bob").status_code == 429
        assert sign_in(Client(REMOTE_ADDR="203.0.113.3"), "bob").status_code == 302

    def test_the_address_is_the_forwarded_one_only_behind_a_trusted_proxy(self, staff, settings):
        settings.AXES_LOCKOUT_PARAMETERS = ["ip_address"]
        UserFactory(username="bob", is_staff=True)
        settings.OTPSITE_TRUSTED_PROXIES = ["127.0.0.1"]
        for index in range(5):
            sign_in(Client(HTTP_X_FORWARDED_FOR="198.51.100.9"), f"guess{index}", "wrong")
        assert sign_in(Client(HTTP_X_FORWARDED_FOR="198.51.100.9"), "bob").status_code == 429
        assert sign_in(Client(HTTP_X_FORWARDED_FOR="203.0.113.4"), "bob").status_code == 302


class TestAudit:
    def test_a_sign_in_and_a_failure_are_audited_with_the_address(self, staff):
        sign_in(Client(REMOTE_ADDR="203.0.113.5"), "alice", "wrong")
        sign_in(Client(REMOTE_ADDR="203.0.113.5"), "alice")
        failure, success = AuditEvent.objects.filter(action="staff.sign_in").order_by("id")
        assert (failure.outcome, failure.reason, failure.actor_label, failure.user) == (
            "failure",
            "wrong_credentials",
            "alice",
            None,
        )
        assert (success.outcome, success.user, success.client_ip) == ("success", staff, "203.0.113.5")
        assert failure.client_ip == "203.0.113.5" and failure.detail == {"username": "alice"}
        assert PASSWORD not in str(failure.detail) and "wrong" not in str(failure.detail)

    def test_a_locked_out_attempt_says_so(self, staff):
        client = Client(REMOTE_ADDR="198.51.100.10")
        for _ in range(6):
            sign_in(client, "alice", "wrong")
        assert AuditEvent.objects.filter(action="staff.sign_in").latest("id").reason == "locked_out"


@pytest.fixture
def required(settings):
    settings.OTPSITE_STAFF_TWO_FACTOR = True


class TestTwoFactor:
    def test_required_first_sign_in_enrols_with_a_qr_code_and_gets_backup_codes(self, staff, required, clock):
        client = Client()
        assert sign_in(client, "alice").status_code == 302
        held = client.get("/admin/")
        assert held.status_code == 302 and held["Location"].startswith(reverse("staff_two_factor"))
        enrol = client.get(held["Location"], follow=True)
        page = enrol.content.decode()
        assert enrol.redirect_chain[-1][0].startswith(reverse("staff_two_factor_enrol"))
        assert "<svg" in page and 'id="totp-secret"' in page
        device = TOTPDevice.objects.get(user=staff, confirmed=False)
        assert client.post(reverse("staff_two_factor_enrol"), {"token": "000000"}).status_code == 200
        clock.advance(seconds=2)  # django-otp throttles: after a wrong code the next try waits a second
        done = client.post(reverse("staff_two_factor_enrol"), {"token": current_token(device), "next": "/admin/"})
        codes = re.findall(r"<li><code>(\w+)</code></li>", done.content.decode())
        assert len(codes) == 10 and StaticDevice.objects.get(user=staff).token_set.count() == 10
        assert TOTPDevice.objects.get(user=staff).confirmed
        assert client.get("/admin/").status_code == 200
        assert AuditEvent.objects.filter(action="staff.two_factor_enrol", outcome="success").count() == 1

    def test_required_sign_in_with_the_app_or_a_backup_code_once(self, staff, required, clock):
        device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
        backup = StaticDevice.objects.create(user=staff, name="backup")
        backup.token_set.create(token="backup123")

        app = Client()
        sign_in(app, "alice")
        assert app.post(reverse("staff_two_factor"), {"token": "000000"}).status_code == 200
        assert app.get("/admin/").status_code == 302
        clock.advance(seconds=2)
        verified = app.post(reverse("staff_two_factor"), {"token": current_token(device), "next": "/admin/"})
        assert verified.status_code == 302 and verified["Location"] == "/admin/"
        assert app.get("/admin/").status_code == 200

        with_backup = Client()
        sign_in(with_backup, "alice")
        assert with_backup.post(reverse("staff_two_factor"), {"token": "backup123"}).status_code == 302
        assert with_backup.get("/admin/").status_code == 200
        again = Client()
        sign_in(again, "alice")
        clock.advance(seconds=2)
        assert again.post(reverse("staff_two_factor"), {"token": "backup123"}).status_code == 200
        outcomes = list(AuditEvent.objects.filter(action="staff.two_factor").values_list("outcome", flat=True))
        assert sorted(outcomes) == ["failure", "failure", "success", "success"]

    def test_a_session_without_the_second_factor_is_no_one_to_the_api(self, staff, required):
        client = Client()
        sign_in(client, "alice")
        assert client.get("/v1/organizations/x/stores/y/otp-users", HTTP_ACCEPT="application/json").status_code == 401

    def test_the_next_address_stays_on_this_site(self, staff, required):
        device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
        client = Client()
        sign_in(client, "alice")
        answer = client.post(
            reverse("staff_two_factor"), {"token": current_token(device), "next": "https://evil.example/"}
        )
        assert answer["Location"] == "/admin/"

    def test_optional_signs_in_with_a_password_alone_unless_the_user_enrolled(self, staff, settings):
        settings.OTPSITE_STAFF_TWO_FACTOR = False
        client = Client()
        sign_in(client, "alice")
        assert client.get("/admin/").status_code == 200
        assert client.get(reverse("staff_two_factor_enrol")).status_code == 200  # anyone may enrol
        TOTPDevice.objects.filter(user=staff).update(confirmed=True)
        later = Client()
        sign_in(later, "alice")
        assert later.get("/admin/").status_code == 302

    def test_the_pages_need_a_signed_in_staff_user(self, required):
        assert Client().get(reverse("staff_two_factor")).status_code == 302
        assert Client().get(reverse("staff_two_factor_enrol")).status_code == 302
