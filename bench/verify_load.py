"""Load benchmark: Capillary validate (the verify path: row lock, update, audit insert) and the Applivery
OTP-user GET (a read), served by gunicorn on PostgreSQL, measured from a thread pool on the same machine.

    bin/with-postgres .venv/bin/python bench/verify_load.py [--requests 2000] [--concurrency 8] [--workers 2]

It migrates the database in DATABASE_URL, makes one organization with --requests people, issues each a
code (read from the in-memory SMS outbox), then sends each person's right code once, so every validate
succeeds exactly once and does the full work. Not part of the test run.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "otpsite.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-" + "k" * 60,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_LOG_LEVEL": "WARNING",
    "OTPSITE_ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(b"b" * 32).decode().rstrip("="),
    "OTPSITE_HMAC_KEY": "bench-hmac-" + "h" * 40,
    "OTPSITE_SMS_BACKEND": "credentials.delivery.MemorySmsBackend",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(people: int):
    import django

    django.setup()
    from django.core.management import call_command

    from credentials import services
    from credentials.choices import Channel, IdentifierType, Scope
    from credentials.delivery import MemorySmsBackend
    from otpusers.audit import Actor
    from otpusers.models import AppAccess, Organization, OtpUser, PublishedApplication, Store
    from otpusers.services import api_key_create, api_key_token

    call_command("migrate", verbosity=0)
    run = int(time.time())
    organization = Organization.objects.create(
        name=f"Bench {run}", slug=f"bench-{run}", daily_issue_limit=1000, resend_cooldown_seconds=0
    )
    store = Store.objects.create(organization=organization, name="Bench store", slug=f"bench-store-{run}")
    application = PublishedApplication.objects.create(store=store, name="Bench app", slug="bench")
    OtpUser.objects.bulk_create(
        OtpUser(organization=organization, email=f"p{n}@bench.example", mobile=f"+1555{n:07d}") for n in range(people)
    )
    actor = Actor.system("bench")
    codes = []
    for person in OtpUser.objects.filter(organization=organization).order_by("id"):
        services.code_issue(
            organization=organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value=person.mobile,
            scope=Scope.GENERIC,
            destinations=[services.Destination(Channel.SMS, "")],
            actor=actor,
        )
        codes.append((person.mobile, MemorySmsBackend.outbox[-1].body.split("code is ")[1].split(".")[0]))
    access = AppAccess.objects.create(
        published_application=application,
        otp_user=OtpUser.objects.filter(organization=organization).first(),
        allowed_downloads_num=-1,
    )
    api_key, secret = api_key_create(
        organization=organization,
        name="bench",
        permissions=["capillary.otp.write", "mad.store.otpUsers.get"],
        actor=actor,
    )
    basic = base64.b64encode(f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}".encode()).decode()
    get_path = f"/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users/{access.public_id}"
    return codes, f"Basic {basic}", f"Bearer {api_key_token(api_key, secret)}", get_path


def fire(port: int, requests: list, concurrency: int) -> tuple[list[float], list[int]]:
    latencies, statuses = [], []
    per_thread = [requests[index::concurrency] for index in range(concurrency)]

    def worker(batch):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for method, path, headers, body in batch:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses.append(status)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, per_thread))
    return latencies, statuses


def report(name: str, latencies: list[float], statuses: list[int], seconds: float) -> None:
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(int(len(ordered) * p), len(ordered) - 1)]

    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(
        f"| {name} | {len(latencies)} | {len(latencies) / seconds:,.0f} | {statistics.median(ordered):.1f} | "
        f"{percentile(0.95):.1f} | {percentile(0.99):.1f} | {max(ordered):.1f} | {counts} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL, or run through bin/with-postgres.")
    os.environ.update(ENVIRONMENT)
    codes, basic, bearer, get_path = prepare(arguments.requests)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "otpsite.wsgi", "--workers", str(arguments.workers), "--bind",
         f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "OTPSITE_BACKGROUND_TASKS": "inline"},
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        headers = {"Authorization": basic, "Content-Type": "application/json", "Host": "127.0.0.1"}
        validate = [
            ("POST", "/v2/otp/validate", headers,
             json.dumps({"entityType": "MOBILE", "entityValue": mobile, "code": code, "action": "GENERIC"}))
            for mobile, code in codes
        ]  # fmt: skip
        fire(port, [("GET", get_path, {"Authorization": bearer, "Host": "127.0.0.1"}, None)] * 200, 2)  # warm-up
        print(f"gunicorn sync × {arguments.workers}, client threads {arguments.concurrency}, PostgreSQL, DEBUG off")
        print("| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | statuses |")
        print("|---|---|---|---|---|---|---|---|")
        started = time.perf_counter()
        latencies, statuses = fire(port, validate, arguments.concurrency)
        report("POST /v2/otp/validate (right code, once each)", latencies, statuses, time.perf_counter() - started)
        reads = [("GET", get_path, {"Authorization": bearer, "Host": "127.0.0.1"}, None)] * arguments.requests
        started = time.perf_counter()
        latencies, statuses = fire(port, reads, arguments.concurrency)
        report("GET Applivery OTP user", latencies, statuses, time.perf_counter() - started)
        if shutil.which("wrk"):
            # wrk costs the machine far less than Python client threads do, so it shows the server's ceiling.
            print(f"\nwrk -t1 -c{arguments.concurrency} -d10s, GET Applivery OTP user:")
            subprocess.run(
                ["wrk", "-t1", f"-c{arguments.concurrency}", "-d10s", "--latency", "-H", f"Authorization: {bearer}",
                 f"http://127.0.0.1:{port}{get_path}"],
                check=False,
            )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
