"""How much longer a verify takes for a person who exists than for one who does not (finding 6 of issue 10).

Runs Capillary validate and manage validate through the whole request stack, and the verify service alone,
alternating a known person (with an outstanding code, guessed wrong) and an unknown one, each request in its
own transactions as in production, on a probe organization deleted afterwards; prints the mean and median
differences with Welch's t. Goal: a difference under 0.3 ms, |t| within noise
(below 2). Run it on an idle machine: on a busy one the noise dwarfs a fraction of a millisecond.
"""

import base64
import hashlib
import logging
import math
import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client, override_settings

from credentials import services
from credentials.choices import Channel, IdentifierType, Scope, Surface
from credentials.models import IssuedCode
from otpusers import services as otpuser_services
from otpusers.audit import Actor
from otpusers.ids import new_object_id
from otpusers.models import AuditEvent, Organization, OtpUser


def welch_t(first: list[float], second: list[float]) -> float:
    variance = statistics.variance(first) / len(first) + statistics.variance(second) / len(second)
    return (statistics.mean(first) - statistics.mean(second)) / math.sqrt(variance) if variance else 0.0


class Command(BaseCommand):
    help = "Measures the verify paths' timing for known and unknown recipients (nothing is kept)."

    def add_arguments(self, parser):
        parser.add_argument("--tries", type=int, default=500, help="Requests for each kind of recipient.")

    def handle(self, *args, tries: int, **options):
        self.stdout.write(f"database: {connection.vendor}; {tries} tries each, alternating")
        logging.getLogger("django.request").setLevel(logging.ERROR)  # every known and unknown try is a 4xx
        organization = Organization.objects.create(name="Timing probe", slug=f"timing-probe-{new_object_id()}")
        try:
            with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False):
                self._probe(organization, tries)
        finally:
            AuditEvent.objects.filter(organization=organization).delete()
            organization.delete()

    def _probe(self, organization: Organization, tries: int) -> None:
        actor = Actor.system("timing_probe")
        person = OtpUser.objects.create(
            organization=organization, mobile="+15550000001", user_name="timing-probe", email="probe@example.com"
        )
        services.code_issue(
            organization=organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value=person.mobile,
            scope=Scope.GENERIC,
            destinations=[services.Destination(Channel.SMS, "")],
            actor=actor,
            surface=Surface.INTERNAL,
        )
        # Every known try must be a wrong guess against an outstanding code: it must never lock.
        IssuedCode.objects.filter(otp_user=person).update(max_attempts=32_000)
        api_key, secret = otpuser_services.api_key_create(
            organization=organization,
            name="timing probe",
            permissions=["capillary.otp.write", "manage.otp.verify"],
            requests_per_minute=10_000_000,
            actor=actor,
        )
        capillary = Client(
            HTTP_AUTHORIZATION="Basic "
            + base64.b64encode(f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}".encode()).decode()
        )
        manage = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{secret}".encode()).decode())
        wrong = "0" * organization.code_length

        def capillary_validate(mobile: str):
            return capillary.post(
                "/v2/otp/validate",
                {"entityType": "MOBILE", "entityValue": mobile, "action": "GENERIC", "code": wrong},
                content_type="application/json",
            )

        def manage_validate(user_name: str):
            return manage.post(
                "/manage/v2/user/validate/otp",
                {"userName": user_name, "phoneNumber": person.mobile, "otp": wrong},
                content_type="application/json",
            )

        def verify_service(mobile: str):
            return services.code_verify(
                organization=organization,
                identifier_type=IdentifierType.MOBILE,
                identifier_value=mobile,
                scope=Scope.GENERIC,
                code=wrong,
                actor=actor,
                surface=Surface.INTERNAL,
            )

        for name, call, known, unknown in (
            ("Capillary validate", capillary_validate, person.mobile, "+15550000999"),
            ("manage validate", manage_validate, person.user_name, "nobody-here"),
            ("code_verify service", verify_service, person.mobile, "+15550000999"),
        ):
            for _ in range(20):  # warm up
                call(known), call(unknown)
            timings: dict[str, list[float]] = {"known": [], "unknown": []}
            for _ in range(tries):
                for kind, value in (("known", known), ("unknown", unknown)):
                    started = time.perf_counter()
                    call(value)
                    timings[kind].append((time.perf_counter() - started) * 1000)
            known_times, unknown_times = timings["known"], timings["unknown"]
            difference = statistics.mean(known_times) - statistics.mean(unknown_times)
            median_difference = statistics.median(known_times) - statistics.median(unknown_times)
            self.stdout.write(
                f"{name}: known {statistics.mean(known_times):.3f} ms, "
                f"unknown {statistics.mean(unknown_times):.3f} ms, "
                f"mean difference {difference:+.3f} ms, median difference {median_difference:+.3f} ms, "
                f"Welch t {welch_t(known_times, unknown_times):+.2f}"
            )
