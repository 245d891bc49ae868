"""`make bench`: seed a scale, serve otpsite with gunicorn as production does, drive every endpoint with wrk,
alternating with the floor endpoint, measure the admin pages, and write bench/results/<date>-<scale>.{json,md}.

    bin/with-postgres .venv/bin/python -m bench.run [--scale 50k|1m] [--duration 10] [--connections 8]
                                                    [--workers 2] [--pgbouncer] [--only NAME ...]

Run it through `make bench` (which installs wrk and PgBouncer when missing and starts a tuned throwaway
PostgreSQL); DATABASE_URL must name an empty database. Endpoints and the floor share one gunicorn; each
endpoint's run sits between two floor runs and is quoted as a ratio to their mean. SQL statements per request
are counted with Django's CaptureQueriesContext over a few more requests of the same kind, sent through the
test client in this process after the run (savepoints left out).
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "lua" / "requests.lua"


def _fixed_secret(label: str) -> str:
    """A fixed, high-entropy value per label: the bench's secrets must pass production's strength checks
    and stay the same between runs (seeded digests depend on the HMAC key)."""
    return hashlib.sha256(f"otpsite bench {label}".encode()).hexdigest() + hashlib.sha256(label.encode()).hexdigest()


ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": _fixed_secret("django-secret-key"),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_LOG_LEVEL": "WARNING",
    "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    "OTPSITE_ENCRYPTION_KEYS": "bench:"
    + base64.urlsafe_b64encode(hashlib.sha256(b"otpsite bench aes").digest()).decode().rstrip("="),
    "OTPSITE_HMAC_KEY": _fixed_secret("hmac"),
    "OTPSITE_CAPILLARY_OAUTH_JWT_KEY": _fixed_secret("capillary-oauth"),
    # Sends are queued (one INSERT in the request, as in production) and no delivery worker runs, so wrk
    # measures the requests alone; a configured gateway is still needed for the channels to be accepted.
    "OTPSITE_SMS_BACKEND": "bench.sms.DiscardSmsBackend",
    "DATABASE_CONN_MAX_AGE": "600",
}
# The targets: ratio to the floor, by kind of endpoint; p99 for all.
TARGETS = {"read": 0.60, "list": 0.40, "write": 0.35, "page": 0.50}
P99_TARGET_MS = 25.0
ADMIN_TARGET_MS = 300.0
COUNTED_REQUESTS = 5
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION)\b", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"bench: {what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: {what} did not listen on {port}")


def say(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def run_wrk(
    port: int, requests_file: Path, *, expect, cycle: bool, duration: int, connections: int, meter=None
) -> dict:
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(requests_file),
        "BENCH_EXPECT": ",".join(map(str, expect)),
        "BENCH_CYCLE": "1" if cycle else "0",
    }
    before = meter.sample() if meter else None
    completed = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA),
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    after = meter.sample() if meter else None
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line.removeprefix("BENCH_RESULT "))
            seconds = result["duration_us"] / 1e6
            return {
                **(CpuMeter.per_request(before, after, result["requests"]) if meter else {}),
                "requests": result["requests"],
                "rps": round(result["requests"] / seconds, 1),
                "p50_ms": round(result["p50_us"] / 1000, 2),
                "p90_ms": round(result["p90_us"] / 1000, 2),
                "p99_ms": round(result["p99_us"] / 1000, 2),
                "max_ms": round(result["max_us"] / 1000, 2),
                "errors": result["unexpected"] + result["socket_errors"],
                "statuses": result["statuses"],
                "exhausted": bool(result["exhausted"]),
                "position": result["position"],
            }
    raise SystemExit(f"bench: wrk gave no result:\n{completed.stdout}\n{completed.stderr}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process gone in between counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


class CpuMeter:
    """CPU per request of the app (gunicorn's workers), the database (the postmaster's children) and the load
    generator: says where an endpoint's time goes beyond the floor's."""

    def __init__(self, gunicorn: int, postmaster: int | None):
        self.gunicorn, self.postmaster = gunicorn, postmaster

    def sample(self) -> dict:
        app = children_of(self.gunicorn)
        database = children_of(self.postmaster) if self.postmaster else []
        wrk = os.times()
        return {"app": cpu_seconds(app), "db": cpu_seconds(database), "wrk": wrk.children_user + wrk.children_system}

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict:
        if not requests:
            return {}
        return {f"{part}_cpu_ms": round(1000 * (after[part] - before[part]) / requests, 3) for part in before}


def postmaster_pid() -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:  # the server is on another machine
        return None


def statements_per_request(lines: list[str], position: int, cycle: bool) -> tuple[float | None, list[str]]:
    """Statements per request over COUNTED_REQUESTS more requests of the same file, made after the run through
    Django's test client in this process against the same database (CaptureQueriesContext), leaving out
    savepoints; Django sends no BEGIN/COMMIT statement. Also answers the first request's statements."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if cycle:
        following = [lines[(position + offset) % len(lines)] for offset in range(COUNTED_REQUESTS)]
    else:
        following = lines[position : position + COUNTED_REQUESTS]
    if not following:
        return None, []
    client = Client()
    counts, first = [], []
    for line in following:
        method, path, body, *headers = line.split("\t")
        fields = dict(header.split(": ", 1) for header in headers)
        content_type = fields.pop("Content-Type", "application/octet-stream")
        with CaptureQueriesContext(connection) as captured:
            client.generic(method, path, data=body.encode(), content_type=content_type, headers=fields)
        statements = [
            query["sql"] for query in captured.captured_queries if not TRANSACTION_CONTROL.match(query["sql"])
        ]
        counts.append(len(statements))
        first = first or statements
    return round(sum(counts) / len(counts), 2), [statement[:300] for statement in first]


def start_pgbouncer(database_url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    """Debian's PgBouncer on a free loopback port, transaction pooling, in front of DATABASE_URL."""
    url = urlparse(database_url)
    port = free_port()
    user = url.username or "postgres"
    (workdir / "userlist.txt").write_text(f'"{user}" "{url.password or ""}"\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={url.hostname} port={url.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / "userlist.txt"}
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,options
logfile = {workdir / "pgbouncer.log"}
"""
    )
    command = [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        os.chmod(workdir, 0o777)
        for name in ("pgbouncer.ini", "userlist.txt"):
            os.chmod(workdir / name, 0o644)
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "pgbouncer")
    return process, url._replace(netloc=f"{user}@127.0.0.1:{port}").geturl()


def start_gunicorn(workers: int, database_url: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "otpsite.wsgi:application", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning", "--timeout", "60"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    wait_for_port(port, process, "gunicorn")
    return process, port


def conditions(args, started_load: tuple[float, float, float]) -> dict:
    import django
    import psycopg
    import rest_framework
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        settings = {}
        for name in ("shared_buffers", "fsync", "synchronous_commit", "full_page_writes", "work_mem", "max_wal_size"):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def version(command: list[str]) -> str:
        try:
            output = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return ""
        return (output.stdout or output.stderr).strip().splitlines()[0] if (output.stdout or output.stderr) else ""

    return {
        "machine": f"{platform.node()} {platform.platform()}",
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": [round(value, 2) for value in started_load],
        "python": platform.python_version(),
        "django": django.get_version(),
        "djangorestframework": rest_framework.__version__,
        "psycopg": psycopg.__version__,
        "gunicorn": version([sys.executable, "-m", "gunicorn", "--version"]),
        "postgresql": postgres,
        "postgresql_settings": settings,
        "wrk": " ".join(version(["wrk", "-v"]).split()[:2]),
        "pgbouncer": version(["pgbouncer", "--version"]) if args.pgbouncer else None,
        "commit": args.commit,
        "scale": args.scale,
        "duration_s": args.duration,
        "connections": args.connections,
        "wrk_threads": 1,
        "gunicorn_workers": args.workers,
        "gunicorn_worker_class": "sync",
        "pgbouncer_in_path": args.pgbouncer,
    }


def verdict(row: dict) -> str:
    target = TARGETS.get(row["kind"])
    checks = []
    if target is not None:
        checks.append(row["ratio"] >= target)
    checks.append(row["p99_ms"] <= P99_TARGET_MS)
    checks.append(row["errors"] == 0)
    return "pass" if all(checks) else "FAIL"


def table(rows: list[dict]) -> str:
    lines = [
        "| endpoint | req/s | floor req/s | ratio | target | p50 ms | p99 ms | errors | SQL/req "
        "| CPU ms/req app · db (floor) | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        target = TARGETS.get(row["kind"])
        statements = "" if row["statements_per_request"] is None else f"{row['statements_per_request']:.1f}"
        note = " (ran out of prepared requests)" if row["exhausted"] else ""
        lines.append(
            f"| {row['name']}{note} | {row['rps']:,.0f} | {row['floor_rps']:,.0f} | {100 * row['ratio']:.0f} % | "
            f"{'—' if target is None else f'≥ {100 * target:.0f} %'} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
            f"{row['errors']} | {statements} | {cpu_cell(row)} | {row['verdict']} |"
        )
    return "\n".join(lines)


def cpu_cell(row: dict) -> str:
    if row.get("app_cpu_ms") is None:
        return ""
    floor = ""
    if row.get("floor_app_cpu_ms") is not None:
        floor = f" ({row['floor_app_cpu_ms']:.2f} · {row['floor_db_cpu_ms']:.2f})"
    return f"{row['app_cpu_ms']:.2f} · {row['db_cpu_ms']:.2f}{floor}"


def primary_table(rows: list[dict]) -> str:
    from bench.primary import table as pgbench_table

    return pgbench_table(rows)


def admin_table(pages: list[dict]) -> str:
    lines = ["| admin page | query | status | median ms | max ms | ≤ 300 ms |", "|---|---|---:|---:|---:|---|"]
    for page in pages:
        lines.append(
            f"| {page['page']} | `{page['query'] or '—'}` | {page['status']} | {page['median_ms']:,.0f} | "
            f"{page['max_ms']:,.0f} | {'yes' if page['max_ms'] <= ADMIN_TARGET_MS else '**NO**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=os.environ.get("SCALE", "50k"))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "10")))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("CONNECTIONS", "8")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--pgbouncer", action="store_true", default=os.environ.get("PGBOUNCER", "") not in ("", "0"))
    parser.add_argument(
        "--rate-cap", type=int, default=int(os.environ.get("RATE_CAP", "800")),
        help="req/s each consuming endpoint is prepared for (x duration = fresh items)",
    )  # fmt: skip
    parser.add_argument("--only", nargs="*", help="endpoint names to run (default: all)")
    parser.add_argument("--no-admin", action="store_true", help="skip the admin pages")
    parser.add_argument(
        "--pgbench", action="store_true", default=os.environ.get("PGBENCH", "") not in ("", "0"),
        help="after the load, measure the primary's write ceiling with pgbench (bench/primary.py)",
    )  # fmt: skip
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("bench: set DATABASE_URL, or run `make bench` (it starts a throwaway PostgreSQL).")
    os.environ.update(ENVIRONMENT)
    sys.path.insert(0, str(ROOT))
    load_at_start = os.getloadavg()
    args.commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()

    import django

    django.setup()
    from django.core.management import call_command

    from bench import admin_pages, prepare, primary, seed

    if args.scale not in seed.SCALES:
        raise SystemExit(f"bench: SCALE must be one of {', '.join(seed.SCALES)}")
    scale = seed.SCALES[args.scale]
    timings = {}
    started = time.monotonic()
    say(f"scale {scale.name}: migrating")
    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    from otpusers.models import Organization

    if Organization.objects.filter(slug="bench").exists():
        raise SystemExit("bench: the database already holds a bench tenant; give it an empty database.")
    tenant = prepare.create_tenant()
    say(f"seeding {scale.people:,} people, {scale.people * scale.codes_per_person:,} codes, "
        f"{scale.audit_events:,} audit events")  # fmt: skip
    ids, seed_timings = seed.seed_bulk(
        scale=scale,
        organization_id=tenant.organization.pk,
        application_id=tenant.application.pk,
        api_key_id=tenant.api_key_id,
    )
    timings.update(seed_timings)
    timings["seed_total_s"] = round(time.monotonic() - started, 1)
    say(f"seeded in {timings['seed_total_s']} s ({seed_timings})")
    started = time.monotonic()
    consume = args.rate_cap * args.duration
    endpoints = prepare.build_endpoints(tenant=tenant, scale=scale, ids=ids, consume=consume)
    if args.only:
        endpoints = [endpoint for endpoint in endpoints if endpoint.name in args.only]
    floor = prepare.floor_endpoint(ids, scale)
    workdir = Path(tempfile.mkdtemp(prefix="otpsite-bench-"))
    files = {endpoint.name: prepare.write_requests(endpoint, workdir) for endpoint in [floor, *endpoints]}
    with_codes = timings["prepare_s"] = round(time.monotonic() - started, 1)
    say(f"prepared the load's data in {with_codes} s")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    pgbouncer = None
    database_url = os.environ["DATABASE_URL"]
    if args.pgbouncer:
        pgbouncer, database_url = start_pgbouncer(database_url, workdir)
        os.environ["DATABASE_DISABLE_SERVER_SIDE_CURSORS"] = "true"
        os.environ["DATABASE_PREPARED_STATEMENTS"] = "false"  # Debian 12's PgBouncer (1.18) cannot track them
        say(f"PgBouncer (transaction pooling) at {urlparse(database_url).netloc}")
    server, port = start_gunicorn(args.workers, database_url)
    meter = CpuMeter(server.pid, postmaster_pid())
    rows, floors, pages = [], [], []
    try:
        say(f"gunicorn sync x {args.workers} on :{port}; warming up")
        run_wrk(port, files["floor"], expect=(200,), cycle=True, duration=3, connections=args.connections)

        def floor_run() -> float:
            result = run_wrk(
                port,
                files["floor"],
                expect=(200,),
                cycle=True,
                duration=args.duration,
                connections=args.connections,
                meter=meter,
            )
            floors.append(result)
            return result["rps"]

        before = floor_run()
        for endpoint in endpoints:
            result = run_wrk(
                port,
                files[endpoint.name],
                expect=endpoint.expect,
                cycle=endpoint.cycle,
                duration=args.duration,
                connections=args.connections,
                meter=meter,
            )
            per_request, top = statements_per_request(endpoint.lines, result["position"], endpoint.cycle)
            after = floor_run()
            around = [rate for rate in (before, after) if rate]  # a floor run that got nothing is not a floor
            floor_rps = sum(around) / len(around) if around else 0.0
            row = {
                "name": endpoint.name,
                "surface": endpoint.surface,
                "kind": endpoint.kind,
                **result,
                "floor_rps": round(floor_rps, 1),
                "ratio": round(result["rps"] / floor_rps, 3) if floor_rps else 0.0,
                "statements_per_request": per_request,
                "statements_of_one_request": top,
                "floor_app_cpu_ms": floors[-1].get("app_cpu_ms"),
                "floor_db_cpu_ms": floors[-1].get("db_cpu_ms"),
            }
            row["verdict"] = verdict(row)
            rows.append(row)
            say(
                f"{endpoint.name:<28} {result['rps']:>8,.0f} req/s  floor {floor_rps:>7,.0f}  "
                f"{100 * row['ratio']:4.0f} %  p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}  "
                f"SQL/req {row['statements_per_request']}  CPU ms/req app {result.get('app_cpu_ms')} "
                f"db {result.get('db_cpu_ms')} (floor {row['floor_app_cpu_ms']} / {row['floor_db_cpu_ms']})"
            )
            before = after
        if not args.no_admin:
            pages = admin_pages.measure(port=port, superuser_id=tenant.superuser_id, ids=ids, scale=scale)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if pgbouncer is not None:
            pgbouncer.terminate()
            pgbouncer.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    primary_rows = []
    if args.pgbench:
        primary_rows = primary.measure(
            database_url=os.environ["DATABASE_URL"], organization_id=tenant.organization.pk, people=scale.people
        )
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "conditions": {**conditions(args, load_at_start), "load_average_at_end": list(os.getloadavg())},
        "timings": timings,
        "statement_counting": f"SQL statements per request: Django's CaptureQueriesContext over {COUNTED_REQUESTS} "
        "further requests of the same kind, made after the endpoint's run through the test client against the "
        "same database; savepoints (transaction control) left out",
        "targets": {"ratio_by_kind": TARGETS, "p99_ms": P99_TARGET_MS, "admin_ms": ADMIN_TARGET_MS},
        "floor_runs": floors,
        "endpoints": rows,
        "admin_pages": pages,
        "primary_pgbench": primary_rows,
    }
    write_results(report, args)


def write_results(report: dict, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now(UTC):%Y-%m-%d-%H%M}-{args.scale}{'-pgbouncer' if args.pgbouncer else ''}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    conditions_text = report["conditions"]
    floor_rates = [run["rps"] for run in report["floor_runs"]]
    header = (
        f"# otpsite bench, {args.scale}{' through PgBouncer' if args.pgbouncer else ''}, {report['date']}\n\n"
        f"{conditions_text['cpus']} CPUs ({conditions_text['cpu']}), load average at start "
        f"{conditions_text['load_average_at_start']}, at end "
        f"{[round(value, 2) for value in conditions_text['load_average_at_end']]}; "
        f"PostgreSQL {conditions_text['postgresql']} ({conditions_text['postgresql_settings']}); "
        f"Django {conditions_text['django']}, DRF {conditions_text['djangorestframework']}, psycopg "
        f"{conditions_text['psycopg']}, {conditions_text['gunicorn']} sync x {args.workers}, "
        f"{conditions_text['wrk']}: -t1 -c{args.connections}, {args.duration} s per run, each endpoint between "
        f"two floor runs (floor: min {min(floor_rates, default=0):,.0f}, median "
        f"{statistics.median(floor_rates) if floor_rates else 0:,.0f}, max {max(floor_rates, default=0):,.0f} req/s). "
        f"Commit {conditions_text['commit']}. Seeding: {report['timings']}.\n\n"
        f"Targets: ratio to the floor ≥ 60 % single reads, ≥ 40 % lists, ≥ 35 % validate / generate / send / "
        f"challenge / login / PUT and the store page's posts, ≥ 50 % store page GET; p99 ≤ 25 ms; no errors "
        f"(unexpected statuses). {report['statement_counting']}.\n\n"
    )
    body = header + table(report["endpoints"]) + "\n"
    if report["admin_pages"]:
        slow = sum(1 for page in report["admin_pages"] if page["max_ms"] > ADMIN_TARGET_MS)
        body += f"\n## Admin pages (superuser; {slow} over 300 ms)\n\n" + admin_table(report["admin_pages"]) + "\n"
    if report["primary_pgbench"]:
        body += (
            "\n## One primary's write ceiling (pgbench, bench/pgbench/*.sql, -M prepared, 15 s each)\n\n"
            + primary_table(report["primary_pgbench"])
            + "\n"
        )
    (RESULTS / f"{stem}.md").write_text(body)
    print(body)
    say(f"wrote bench/results/{stem}.json and .md")


if __name__ == "__main__":
    main()
