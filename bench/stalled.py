"""Issue 12's first acceptance point as a measured figure: with a provider that accepts connections and never
answers, Capillary generates still answer at once, an unrelated request is not slowed, and the worker records
the timeout and queues the retry. First with a stalled SMS webhook, then, separately, a stalled SMTP server.

    bin/with-postgres .venv/bin/python -m bench.stalled [--timeout 2] [--requests 10] [--samples 20]
    make bench STALLED=1

otpsite runs as deploy/ runs it, on production settings (DEBUG off): gunicorn with deploy/gunicorn.conf.py and
the delivery worker (`manage.py db_worker`), each started with its systemd unit's ExecStart line, the install
folder read as this checkout. Both providers are sockets on loopback that accept and never answer. Each phase:

1. before the stall, with no worker running yet: `--requests` generates at once, each timed (what they cost on
   this machine; their queued tasks are then dropped), and an unrelated request (Capillary's GET of a code, and
   GET /api/schema/, the request the issue saw wait 4.6 s) timed `--samples` times;
2. a fresh worker, and one generate, which puts the (single-threaded) worker on the provider: the stall begins;
3. the same burst of generates and the same samples again: "during". That no try of these codes had ended when
   the last generate answered, and that codes still waited behind the provider after the samples, is checked;
4. waiting until the worker has recorded every first try, then reading the DeliveryAttempt rows (outcome,
   provider answer, duration) and the queued retries (tasks due after OTPSITE_DELIVERY_RETRY_DELAYS[0]).

The worker is then stopped and the phase's queued retries dropped, so that the next phase starts with an empty
queue. The provider's timeout (OTPSITE_SMS_WEBHOOK_TIMEOUT, DJANGO_EMAIL_TIMEOUT) is short so that the run
takes about a minute; it does not change what the web workers do. Results: bench/results/<date>-stalled.{json,md}.
"""

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.run import ENVIRONMENT, RESULTS, ROOT, free_port, say, wait_for_port

TARGET_MS = 200.0
CAPILLARY_PERMISSIONS = ["capillary.otp.write", "capillary.otp.read"]


class StalledProvider:
    """Accepts TCP connections and never answers, like a hung SMS gateway or SMTP server. `accepted` counts
    the connections taken."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    @property
    def accepted(self) -> int:
        return len(self.connections)

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.listener.close()
        for connection in self.connections:
            connection.close()


def unit_command(unit: str) -> list[str]:
    """The ExecStart line of a deploy/systemd unit, with /srv/otpsite read as this checkout (as bin/serve)."""
    text = (ROOT / "deploy" / "systemd" / f"{unit}.service").read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart=").replace("/srv/otpsite", str(ROOT)))


def milliseconds(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def summary(timings: list[float]) -> dict:
    return {
        "count": len(timings),
        "p50_ms": round(statistics.median(timings), 1) if timings else None,
        "max_ms": max(timings, default=None),
    }


def make_tenant(people: int):
    """One organization with code read-back on (Capillary's GET reads the code back), a Capillary API key and
    `people` people, plus one person with a code already issued for the unrelated read."""
    import base64
    import hashlib
    from datetime import timedelta

    from django.utils import timezone

    from bench.prepare import _issue
    from otpusers.audit import Actor
    from otpusers.models import Organization, OtpUser
    from otpusers.services import api_key_create

    organization = Organization.objects.create(
        name="Stalled provider", slug="stalled", ext_id="stalled", code_read_back_allowed=True
    )
    created = OtpUser.objects.bulk_create(
        OtpUser(organization=organization, email=f"p{n}@stalled.example", mobile=f"+1555{n:08d}", user_name=f"u{n}")
        for n in range(people + 1)
    )
    reader, *rest = created
    issued, _ = _issue(reader.pk, 0, "COUPON", organization, timezone.now(), sealed=True)
    issued.valid_until = timezone.now() + timedelta(days=1)
    issued.save()
    api_key, secret = api_key_create(
        organization=organization, name="stalled", permissions=CAPILLARY_PERMISSIONS, actor=Actor.system("bench")
    )
    login = f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}"
    authorization = "Basic " + base64.b64encode(login.encode()).decode()
    read_path = "/v2/otp?" + urlencode(
        {"identifierName": "mobile", "identifierValue": reader.mobile, "source": "INSTORE", "scope": "COUPON"}
    )
    return rest, authorization, read_path


class Phase:
    def __init__(self, *, channel, provider, client, people, authorization, read_path, args, environment, workdir):
        self.channel, self.provider, self.client, self.people = channel, provider, client, people
        self.authorization, self.read_path, self.args = authorization, read_path, args
        self.environment, self.workdir = environment, workdir

    def generate(self, person) -> tuple[float, int]:
        address = person.mobile if self.channel == "SMS" else person.email
        body = {
            "entityType": "MOBILE",
            "entityValue": person.mobile,
            "action": "GENERIC",
            "channels": [{"type": self.channel, "value": address}],
        }
        started = time.perf_counter()
        response = self.client.post("/v2/otp/generate", json=body, headers={"Authorization": self.authorization})
        return milliseconds(started), response.status_code

    def unrelated(self) -> dict[str, tuple[float, int]]:
        timings = {}
        for name, path, headers in (
            ("Capillary GET", self.read_path, {"Authorization": self.authorization}),
            ("GET /api/schema/", "/api/schema/", {}),
        ):
            started = time.perf_counter()
            response = self.client.get(path, headers=headers)
            timings[name] = (milliseconds(started), response.status_code)
        return timings

    def sample_unrelated(self, samples: int) -> dict:
        collected: dict[str, list] = {}
        for _ in range(samples):
            for name, timing in self.unrelated().items():
                collected.setdefault(name, []).append(timing)
        return collected

    def burst(self, people: list) -> list[tuple[float, int]]:
        """A generate for each person, all at once."""
        answers: list = [None] * len(people)
        gate = threading.Barrier(len(people))

        def fire(index: int) -> None:
            gate.wait()
            answers[index] = self.generate(people[index])

        threads = [threading.Thread(target=fire, args=(index,)) for index in range(len(people))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    def run(self) -> dict:
        from django.db.models import Count
        from django.utils import timezone
        from django_tasks.base import TaskResultStatus
        from django_tasks_db.models import DBTaskResult

        from credentials.models import DeliveryAttempt, DeliveryWorker, IssuedCode

        requests = self.args.requests
        baseline_people, first, burst = self.people[:requests], self.people[requests], self.people[requests + 1 :]
        say(f"{self.channel}: {requests} generates at once, no worker running yet; unrelated requests timed")
        baseline = self.burst(baseline_people)
        before = self.sample_unrelated(self.args.samples)
        DBTaskResult.objects.filter(status=TaskResultStatus.READY).delete()  # those codes are not the stall's

        log = (self.workdir / f"worker-{self.channel.lower()}.log").open("w")
        worker = subprocess.Popen(
            unit_command("otpsite-worker"), cwd=ROOT, env=self.environment, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while not DeliveryWorker.objects.filter(pid=worker.pid).exists():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: the worker did not start; see {log.name}")
                time.sleep(0.2)
            stall_started = time.perf_counter()
            opening = self.generate(first)
            while self.provider.accepted < 1:
                if time.perf_counter() - stall_started > 60:
                    raise SystemExit(f"bench: the worker never reached the stalled {self.channel} provider")
                time.sleep(0.02)
            say(f"{self.channel}: worker {worker.pid} held by the provider; {len(burst)} generates at once")
            codes = IssuedCode.objects.filter(otp_user__in=[first, *burst])
            tries_ended = DeliveryAttempt.objects.filter(issued_code__in=codes).exclude(outcome="sending")
            answers = self.burst(burst)
            # Every answer came back within the opening code's first try: none of these tries had ended.
            when_answered = {"s": round(time.perf_counter() - stall_started, 3), "tries_ended": tries_ended.count()}
            during = self.sample_unrelated(self.args.samples)
            # The sampling, too, ran while codes still waited behind the provider.
            waiting_after_sampling = len(burst) + 1 - tries_ended.count()
            say(f"{self.channel}: answered; waiting for the worker to record {len(burst) + 1} first tries")

            deadline = time.monotonic() + (len(burst) + 1) * self.args.timeout * 2 + 60
            while tries_ended.filter(number=1).count() < len(burst) + 1:
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: the worker did not record every first try; see {log.name}")
                time.sleep(0.5)
            recorded_after = round(time.perf_counter() - stall_started, 1)
            attempts = list(
                DeliveryAttempt.objects.filter(issued_code__in=codes).values(
                    "number", "outcome", "provider_answer", "duration_ms"
                )
            )
            now = timezone.now()
            retries = list(
                DBTaskResult.objects.filter(status=TaskResultStatus.READY, run_after__gt=now).values_list(
                    "run_after", flat=True
                )
            )
            statuses = dict(codes.values_list("delivery_status").annotate(count=Count("id")))
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            log.close()
        dropped = DBTaskResult.objects.filter(status=TaskResultStatus.READY).delete()[0]
        durations = [attempt["duration_ms"] for attempt in attempts if attempt["duration_ms"] is not None]
        return {
            "channel": self.channel,
            "opening_generate": {"ms": opening[0], "status": opening[1]},
            "generates": {
                name: {
                    **summary([timing for timing, _ in timed]),
                    "statuses": sorted({status for _, status in timed}),
                    "each_ms": [timing for timing, _ in timed],
                }
                for name, timed in (("before", baseline), ("during", answers))
            },
            "unrelated": {
                name: {
                    "before": {
                        **summary([t for t, _ in before[name]]),
                        "statuses": sorted({s for _, s in before[name]}),
                    },
                    "during": {
                        **summary([t for t, _ in during[name]]),
                        "statuses": sorted({s for _, s in during[name]}),
                    },
                }
                for name in before
            },
            "answered_s_after_stall_began": when_answered["s"],
            "tries_ended_when_answered": when_answered["tries_ended"],
            "codes_waiting_after_sampling": waiting_after_sampling,
            "worker": {
                "first_tries_recorded_s_after_stall_began": recorded_after,
                "attempts_by_outcome": dict(sorted(_count(attempt["outcome"] for attempt in attempts).items())),
                "duration_ms": {"min": min(durations, default=None), "max": max(durations, default=None)},
                "provider_answers": sorted({attempt["provider_answer"] for attempt in attempts}),
                "queued_retries": len(retries),
                "retries_due_in_s": [
                    round(min(retries).timestamp() - now.timestamp(), 1) if retries else None,
                    round(max(retries).timestamp() - now.timestamp(), 1) if retries else None,
                ],
                "codes_by_delivery_status": statuses,
                "queued_retries_dropped_after": dropped,
            },
        }


def _count(values) -> dict:
    counted: dict = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted


def verdicts(phase: dict, *, timeout: int, requests: int) -> dict:
    generates = phase["generates"]["during"]
    worker = phase["worker"]
    # Not slowed: the median during the stall within half again the median before (plus 10 ms of noise), and
    # no request near the provider's timeout, which is what waiting on the provider would cost.
    unrelated_ok = all(
        sides["during"]["p50_ms"] <= 1.5 * sides["before"]["p50_ms"] + 10
        and sides["during"]["max_ms"] < timeout * 1000 / 2
        and sides["during"]["statuses"] == [200]
        for sides in phase["unrelated"].values()
    )
    timeouts_recorded = (
        worker["attempts_by_outcome"] == {"retry": requests + 1}
        and worker["duration_ms"]["min"] >= timeout * 1000
        and all("did not answer within" in answer for answer in worker["provider_answers"])
    )
    before = phase["generates"]["before"]
    return {
        "generates_under_200_ms": generates["max_ms"] < TARGET_MS and generates["statuses"] == [200],
        "generates_not_slowed_by_the_stall": generates["p50_ms"] <= 1.5 * before["p50_ms"] + 10,
        "answered_while_the_worker_was_held": phase["tries_ended_when_answered"] == 0,
        "unrelated_not_slowed": unrelated_ok and phase["codes_waiting_after_sampling"] > 0,
        "timeouts_recorded_and_retries_queued": timeouts_recorded and worker["queued_retries"] == requests + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("PROVIDER_TIMEOUT", "2")))
    parser.add_argument("--requests", type=int, default=10, help="concurrent generates per phase")
    parser.add_argument("--samples", type=int, default=20, help="unrelated requests timed before and during")
    parser.add_argument(
        "--workers", default=os.environ.get("WORKERS", ""), help="gunicorn workers (default: deploy's, 2 x CPUs + 1)"
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("bench: set DATABASE_URL, or run `make bench STALLED=1` (it starts a throwaway PostgreSQL).")
    os.environ.update(ENVIRONMENT)
    # Production's settings and URLs (the bench's only add the floor endpoint and lift the client limits).
    os.environ.update(DJANGO_SETTINGS_MODULE="otpsite.settings", OTPSITE_API_DOCS_PUBLIC="true")
    sys.path.insert(0, str(ROOT))
    load_at_start = os.getloadavg()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()

    import django

    django.setup()
    from django.core.management import call_command

    say("migrating")
    call_command("migrate", verbosity=0)
    people, authorization, read_path = make_tenant(2 * (2 * args.requests + 1))
    workdir = Path(tempfile.mkdtemp(prefix="otpsite-stalled-"))
    phases = []
    with StalledProvider() as sms, StalledProvider() as mail:
        port = free_port()
        environment = {
            **os.environ,
            "OTPSITE_BIND": f"127.0.0.1:{port}",
            "GUNICORN_LOG_LEVEL": "warning",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "OTPSITE_SMS_BACKEND": "credentials.delivery.WebhookSmsBackend",
            "OTPSITE_SMS_WEBHOOK_URL": f"http://127.0.0.1:{sms.port}/sms",
            "OTPSITE_SMS_WEBHOOK_TIMEOUT": str(args.timeout),
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "DJANGO_EMAIL_HOST": "127.0.0.1",
            "DJANGO_EMAIL_PORT": str(mail.port),
            "DJANGO_EMAIL_TIMEOUT": str(args.timeout),
        }
        if args.workers:
            environment["GUNICORN_WORKERS"] = str(args.workers)
        os.environ.update({name: environment[name] for name in ("OTPSITE_SMS_BACKEND", "OTPSITE_SMS_WEBHOOK_URL")})
        (workdir / "metrics").mkdir()
        web_log = (workdir / "gunicorn.log").open("w")
        server = subprocess.Popen(
            unit_command("otpsite-web"), cwd=ROOT, env=environment, stdout=web_log, stderr=web_log
        )
        try:
            wait_for_port(port, server, "gunicorn")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                # Every gunicorn worker past its first request (imports, the API key read once per process).
                for _ in range(4):
                    threads = [
                        threading.Thread(
                            target=client.get, args=(read_path,), kwargs={"headers": {"Authorization": authorization}}
                        )
                        for _ in range(8)
                    ]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                for channel, provider, chosen in (
                    ("SMS", sms, people[: 2 * args.requests + 1]),
                    ("EMAIL", mail, people[2 * args.requests + 1 :]),
                ):
                    phase = Phase(
                        channel=channel,
                        provider=provider,
                        client=client,
                        people=chosen,
                        authorization=authorization,
                        read_path=read_path,
                        args=args,
                        environment=environment,
                        workdir=workdir,
                    ).run()
                    phase["verdicts"] = verdicts(phase, timeout=args.timeout, requests=args.requests)
                    phases.append(phase)
        finally:
            server.terminate()
            server.wait(timeout=60)
            web_log.close()
    workers = args.workers or f"deploy default ({os.cpu_count()} CPUs: {2 * (os.cpu_count() or 1) + 1})"
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "conditions": {
            "commit": commit,
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(value, 2) for value in load_at_start],
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "gunicorn": "deploy/systemd/otpsite-web.service ExecStart (deploy/gunicorn.conf.py, sync)",
            "gunicorn_workers": workers,
            "worker": "deploy/systemd/otpsite-worker.service ExecStart (manage.py db_worker --interval 1), one",
            "settings": "otpsite.settings, DEBUG off",
            "provider_timeout_s": args.timeout,
            "concurrent_generates": args.requests,
            "unrelated_samples": args.samples,
        },
        "target_ms": TARGET_MS,
        "phases": phases,
    }
    write_results(report)


def table(report: dict) -> str:
    lines = [
        "| provider stalled | request | before the stall: p50 / max ms | during: p50 / max ms | statuses |",
        "|---|---|---:|---:|---|",
    ]
    count = report["conditions"]["concurrent_generates"]
    for phase in report["phases"]:
        provider = {"SMS": "SMS webhook", "EMAIL": "SMTP server"}[phase["channel"]]
        rows = [(f"{count} Capillary generates at once", phase["generates"]), *phase["unrelated"].items()]
        for index, (name, sides) in enumerate(rows):
            before, during = sides["before"], sides["during"]
            statuses = sorted({*before["statuses"], *during["statuses"]})
            lines.append(
                f"| {provider if index == 0 else ''} | {name} | {before['p50_ms']:.0f} / {before['max_ms']:.0f} | "
                f"{during['p50_ms']:.0f} / {during['max_ms']:.0f} | {', '.join(map(str, statuses))} |"
            )
    lines += [
        "",
        "| provider stalled | the opening generate, alone (ms) | burst answered (s after the stall began; tries "
        "ended by then) | first tries recorded | each try took ms | recorded by (s) | retries queued, due in s | "
        "verdict |",
        "|---|---:|---|---|---:|---:|---|---|",
    ]
    for phase in report["phases"]:
        worker = phase["worker"]
        failed = [name.replace("_", " ") for name, ok in phase["verdicts"].items() if not ok]
        lines.append(
            f"| {phase['channel']} | {phase['opening_generate']['ms']:.0f} | "
            f"{phase['answered_s_after_stall_began']} ({phase['tries_ended_when_answered']}) | "
            + ", ".join(f"{number} {outcome}" for outcome, number in worker["attempts_by_outcome"].items())
            + f" | {worker['duration_ms']['min']:,}–{worker['duration_ms']['max']:,} | "
            f"{worker['first_tries_recorded_s_after_stall_began']} | {worker['queued_retries']}, "
            f"{worker['retries_due_in_s'][0]}–{worker['retries_due_in_s'][1]} | "
            f"{'pass' if not failed else 'FAIL: ' + '; '.join(failed)} |"
        )
    return "\n".join(lines)


def write_results(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now(UTC):%Y-%m-%d-%H%M}-stalled"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    body = markdown(report)
    (RESULTS / f"{stem}.md").write_text(body)
    print(body)
    say(f"wrote bench/results/{stem}.json and .md")


def markdown(report: dict) -> str:
    conditions = report["conditions"]
    answers = sorted({answer for phase in report["phases"] for answer in phase["worker"]["provider_answers"]})
    return (
        f"# otpsite with a stalled provider, {report['date']}\n\n"
        f"{conditions['cpus']} CPUs, load average at start {conditions['load_average_at_start']}, at end "
        f"{conditions['load_average_at_end']}; commit {conditions['commit']}. gunicorn as deploy/ runs it "
        f"(workers: {conditions['gunicorn_workers']}), one delivery worker as deploy/ runs it, production settings. "
        f"Each provider accepts connections and never answers; its timeout is {conditions['provider_timeout_s']} s. "
        f"Per phase, before the stall: {conditions['concurrent_generates']} generates at once with no worker running "
        f"(what they cost on this machine), then {conditions['unrelated_samples']} of each unrelated request. Then "
        "one generate puts the worker on the provider, and the same burst, then the same samples, run while it is "
        "held. "
        f"Target: each generate under {report['target_ms']:.0f} ms, answered before any try ended, its median "
        "within 1.5 x the median before (+10 ms); the unrelated request's median within 1.5 x its median before "
        "(+10 ms), while codes still wait behind the provider; "
        "every first try recorded as a timeout (outcome retry, the provider's answer, its duration) and its retry "
        "queued.\n\n"
        + table(report)
        + "\n\nProvider answers recorded: "
        + "; ".join(f"`{answer}`" for answer in answers)
        + "\n"
    )


if __name__ == "__main__":
    main()
