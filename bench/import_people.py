"""The console's people import at scale: generates a CSV of people with every identifier and imports it
through the admin's own views, as staff do (upload → dry-run preview → confirm → the real import, all rows
or none), then prints rows per second, the time of each step and SQL statements per row.

    bin/with-postgres .venv/bin/python -m bench.import_people [--rows 100000]

`make bench IMPORT=1` runs it on the bench's tuned, durable PostgreSQL (bench/run.sh). DATABASE_URL must
name a database the bench may fill (a throwaway one: bin/with-postgres makes it)."""

import argparse
import csv
import io
import os
import sys
import time

from bench.run import ENVIRONMENT, TRANSACTION_CONTROL

HEADER = (
    "organization",
    "email",
    "mobile",
    "external_id",
    "wechat_id",
    "user_name",
    "ext_id",
    "first_name",
    "last_name",
)
ORGANIZATION = "bench-import"


def people_csv(rows: int) -> bytes:
    """`rows` people of one organization, each with all six identifiers and a name."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for n in range(rows):
        writer.writerow(
            (
                ORGANIZATION,
                f"person{n}@import.example",
                f"+49152{n:08d}",
                f"X{n:09d}",
                f"wx-{n}",
                f"user{n}",
                f"ext-{n}",
                "Anna",
                f"Import{n}",
            )
        )
    return buffer.getvalue().encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    arguments = parser.parse_args(argv)
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("bench.import_people: DATABASE_URL is not set (run it through bin/with-postgres)")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment
    from django.urls import reverse

    from otpusers.models import AuditEvent, Organization, OtpUser

    setup_test_environment(debug=False)  # the client's responses carry their template context (the confirm form)
    call_command("migrate", verbosity=0)
    organization, _ = Organization.objects.get_or_create(slug=ORGANIZATION, defaults={"name": "Bench import"})
    if OtpUser.objects.filter(organization=organization).exists():
        raise SystemExit(f"bench.import_people: organization {ORGANIZATION} already has people; use an empty database")
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-importer", defaults={"is_staff": True, "is_superuser": True}
    )
    content = people_csv(arguments.rows)
    client = Client()
    client.force_login(staff)
    print(f"bench.import_people: {arguments.rows} rows, {len(content) / 1e6:.1f} MB of CSV", flush=True)

    counted = {"all": 0, "work": 0}

    def count(execute, sql, params, many, context):
        # Counted as they run: Django's own query log keeps only the last 9000.
        counted["all"] += 1
        counted["work"] += not TRANSACTION_CONTROL.match(sql)
        return execute(sql, params, many, context)

    # Static files by name (no collectstatic manifest needed): the pages are rendered, not served.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(OTPSITE_STAFF_TWO_FACTOR=False, STORAGES=storages), connection.execute_wrapper(count):
        started = time.perf_counter()
        preview = client.post(
            reverse("admin:otpusers_otpuser_import"),
            {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("people.csv", content)},
        )
        previewed = time.perf_counter()
        preview_statements = counted["all"]
        confirm_form = preview.context and preview.context.get("confirm_form") if preview.status_code == 200 else None
        if confirm_form is None:
            raise SystemExit(f"bench.import_people: the preview refused the file (HTTP {preview.status_code})")
        done = client.post(reverse("admin:otpusers_otpuser_process_import"), confirm_form.initial)
        finished = time.perf_counter()
    if done.status_code != 302:
        raise SystemExit(f"bench.import_people: the import answered HTTP {done.status_code}")
    imported = OtpUser.objects.filter(organization=organization).count()
    audited = AuditEvent.objects.filter(organization=organization, action="otp_user.create").count()
    if imported != arguments.rows or audited != arguments.rows:
        raise SystemExit(f"bench.import_people: {imported} people and {audited} audit events for {arguments.rows} rows")

    total = finished - started
    rows = arguments.rows
    print(f"preview (dry run):  {previewed - started:8.1f} s  {preview_statements / rows:6.2f} statements/row")
    print(
        f"import:             {finished - previewed:8.1f} s  "
        f"{(counted['all'] - preview_statements) / rows:6.2f} statements/row"
    )
    print(f"total:              {total:8.1f} s  {rows / total:8.0f} rows/s")
    print(
        f"statements per row: {counted['all'] / rows:.2f} "
        f"({counted['work'] / rows:.2f} without BEGIN/SAVEPOINT/RELEASE/COMMIT), preview and import together"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
