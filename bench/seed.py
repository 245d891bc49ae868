"""Seeding a scale fast: the tenant's rows through the ORM and services, the bulk through INSERT … SELECT over
generate_series with the big tables' secondary indexes and constraints dropped, rebuilt after, then ANALYZE.

Bulk rows are numbered: person n (1..people) has email pn@bench.example, mobile +1555 and n in 8 digits,
user name usern, external id xn, nevisIDM ext id un, and one access to the bench application. Its id is
`people_base + n`, so the load can name any person without asking the database. Filler codes are all older
than a day (so nobody's daily limit is used) and carry a valid-looking digest that no plaintext matches; the
codes the load validates are made later, in bench/prepare.py, with the real digest.
"""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection, models, transaction

from credentials.models import IssuedCode
from otpusers.models import AppAccess, AuditEvent, OtpUser

BULK_MODELS = (OtpUser, AppAccess, IssuedCode, AuditEvent)
SCOPES = (
    "COUPON",
    "POINTS",
    "REGISTRATION",
    "USERGROUP",
    "SUBSCRIPTION",
    "GENERIC",
    "POINTSTRANSFER",
    "CUSTOMER_STATUS_UPDATE",
    "CUSTOMER_IDENTIFIER_CHANGE",
    "CUSTOMER_ISSUE_LINK_CARD",
    "STORE_LOGIN",
)
FIRST_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lea")
LAST_NAMES = ("Meyer", "Okafor", "Novak", "Silva", "Tanaka", "Ivanova", "Haddad", "Larsen", "Rossi", "Kim")
AUDIT_ACTIONS = ("code.issue", "code.verify", "code.verify", "code.read_back", "app_access.update", "card.login")
TWO_YEARS = 2 * 365 * 86_400
NINETY_DAYS = 90 * 86_400


@dataclass(frozen=True)
class Scale:
    name: str
    people: int
    codes_per_person: int
    audit_events: int


SCALES = {
    "50k": Scale("50k", 50_000, 10, 50_000),
    "1m": Scale("1m", 1_000_000, 10, 1_000_000),
}


@dataclass(frozen=True)
class BulkIds:
    """Where each bulk table's numbered rows start: row n has id base + n."""

    people: int
    accesses: int
    codes: int
    events: int


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    elapsed = time.monotonic() - started
    end = "\n" if done >= total else ""
    sys.stderr.write(
        f"\r  {label:<34} [{'#' * filled}{'.' * (width - filled)}] {100 * done / max(total, 1):5.1f} % "
        f"{done:>11,}/{total:,} {elapsed:6.1f} s{end}"
    )
    sys.stderr.flush()


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_select(model: type[models.Model], expressions: dict[str, str], first: int, last: int) -> None:
    """INSERT INTO model's table SELECT … FROM generate_series(first, last) AS g. Columns without an
    expression get the field's default, so a field added later still loads (unique fields need one)."""
    columns, values, arguments = [], [], []
    for field in model._meta.concrete_fields:
        columns.append(_quote(field.column))
        if field.attname in expressions:
            values.append(expressions[field.attname])
        else:
            values.append("%s")
            arguments.append(field.get_db_prep_save(field.get_default(), connection))
    sql = (
        f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(%s::bigint, %s::bigint) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*arguments, first, last])


def _spread(*, total: int, span_seconds: float, ends_seconds_ago: float) -> tuple[str, str]:
    """Row g's creation time, spread evenly (oldest first) over `span_seconds` ending `ends_seconds_ago`, as a
    timestamp expression and as whole Unix seconds; both cheap per row (no make_interval, no extract)."""
    start = time.time() - ends_seconds_ago - span_seconds
    step = span_seconds / total
    created = f"(to_timestamp({start:.6f}) + g * interval '{step * 1_000_000:.3f} microseconds')"
    return created, f"({int(start)} + (g * {step:.9f})::bigint)"


def _object_id(epoch_sql: str, number_sql: str) -> str:
    """A 24-hex id laid out like otpusers.ids.new_object_id: the creation time, then the row's number."""
    return f"lpad(to_hex({epoch_sql}), 8, '0') || lpad(to_hex({number_sql}), 16, '0')"


def _text_array(values) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]::text[]"


def _people(organization_id: int, scale: Scale, base: int) -> dict[str, str]:
    created, _ = _spread(total=scale.people, span_seconds=TWO_YEARS, ends_seconds_ago=7200)
    return {
        "id": f"{base} + g",
        "organization_id": str(organization_id),
        "email": "'p' || g || '@bench.example'",
        "mobile": "'+1555' || lpad(g::text, 8, '0')",
        "external_id": "'x' || g",
        "user_name": "'user' || g",
        "ext_id": "'u' || g",
        "first_name": f"({_text_array(FIRST_NAMES)})[1 + mod(g, {len(FIRST_NAMES)})]",
        "last_name": f"({_text_array(LAST_NAMES)})[1 + mod(g / 7, {len(LAST_NAMES)})]",
        "text_number": "'+1555' || lpad(g::text, 8, '0')",
        "uuid": "gen_random_uuid()",
        "is_valid": "mod(g, 200) <> 0",
        "latest_invite_status": "CASE WHEN mod(g, 3) = 0 THEN 'ACCEPTED' ELSE '' END",
        "last_login_at": f"CASE WHEN mod(g, 4) = 0 THEN {created} + interval '1 day' END",
        "created_at": created,
        "updated_at": created,
    }


def _accesses(application_id: int, scale: Scale, ids: BulkIds) -> dict[str, str]:
    created, epoch = _spread(total=scale.people, span_seconds=TWO_YEARS, ends_seconds_ago=3600)
    return {
        "id": f"{ids.accesses} + g",
        "published_application_id": str(application_id),
        "otp_user_id": f"{ids.people} + g",
        "public_id": _object_id(epoch, "g"),
        "allowed_downloads_num": "CASE WHEN mod(g, 4) = 0 THEN -1 ELSE 5 END",
        "downloads_used": "mod(g, 4)",
        "last_login_at": f"CASE WHEN mod(g, 3) = 0 THEN {created} + interval '2 hours' END",
        "last_download_at": f"CASE WHEN mod(g, 6) = 0 THEN {created} + interval '3 hours' END",
        "created_at": created,
        "updated_at": created,
    }


def _codes(organization_id: int, scale: Scale, ids: BulkIds) -> dict[str, str]:
    total = scale.people * scale.codes_per_person
    # Oldest first, all between 91 and 1 days ago; r = g mod 20 decides the status.
    created, epoch = _spread(total=total, span_seconds=NINETY_DAYS, ends_seconds_ago=86_400 + 600)
    person = f"(1 + mod(g - 1, {scale.people}))"
    status = "mod(g, 20)"
    return {
        "id": f"{ids.codes} + g",
        "organization_id": str(organization_id),
        "otp_user_id": f"{ids.people} + {person}",
        "public_id": _object_id(epoch, "g"),
        "identifier_type": "CASE WHEN mod(g, 3) = 0 THEN 'email' ELSE 'mobile' END",
        "identifier_value": f"CASE WHEN mod(g, 3) = 0 THEN 'p' || {person} || '@bench.example' "
        f"ELSE '+1555' || lpad({person}::text, 8, '0') END",
        "scope": f"({_text_array(SCOPES)})[1 + mod(g / 3, {len(SCOPES)})]",
        "source": "CASE WHEN mod(g, 5) = 0 THEN 'INSTORE' ELSE '' END",
        "channels": """CASE WHEN mod(g, 3) = 0 THEN '["EMAIL"]'::jsonb ELSE '["SMS"]'::jsonb END""",
        "code_digest": "lpad(to_hex(g), 64, '0')",
        "valid_until": f"{created} + interval '10 minutes'",
        "attempts": f"CASE WHEN {status} = 16 THEN 5 WHEN {status} < 14 THEN mod(g / 20, 2) ELSE 0 END",
        "max_attempts": "5",
        "consumed_at": f"CASE WHEN {status} < 14 THEN {created} + interval '40 seconds' END",
        "superseded_at": f"CASE WHEN {status} IN (14, 15) THEN {created} + interval '2 minutes' END",
        "locked_at": f"CASE WHEN {status} = 16 THEN {created} + interval '3 minutes' END",
        "revoked_at": f"CASE WHEN {status} = 17 THEN {created} + interval '1 minute' END",
        "send_count": "1 + CASE WHEN mod(g, 13) = 0 THEN 1 ELSE 0 END",
        "last_sent_at": created,
        "delivery_status": "CASE WHEN mod(g, 97) = 0 THEN 'failed' ELSE 'sent' END",
        "delivery_error": "CASE WHEN mod(g, 97) = 0 THEN 'gateway timeout' ELSE '' END",
        "created_at": created,
    }


def _events(organization_id: int, api_key_id: int, scale: Scale, ids: BulkIds) -> dict[str, str]:
    total = scale.audit_events
    created, epoch = _spread(total=total, span_seconds=NINETY_DAYS, ends_seconds_ago=86_400)
    return {
        "id": f"{ids.events} + g",
        "organization_id": str(organization_id),
        "actor_type": "'api_key'",
        "api_key_id": str(api_key_id),
        "user_id": "NULL",
        "actor_label": "'API key bench'",
        "action": f"({_text_array(AUDIT_ACTIONS)})[1 + mod(g, {len(AUDIT_ACTIONS)})]",
        "object_type": "'issuedcode'",
        "object_id": _object_id(epoch, f"(g * {scale.codes_per_person})"),
        "outcome": "CASE WHEN mod(g, 10) = 0 THEN 'failure' ELSE 'success' END",
        "reason": "CASE WHEN mod(g, 10) = 0 THEN 'wrong' ELSE '' END",
        "detail": """'{"scope": "GENERIC"}'::jsonb""",
        "client_ip": "('10.' || mod(g / 65536, 256) || '.' || mod(g / 256, 256) || '.' || mod(g, 256))::inet",
        "request_id": "lpad(to_hex(g), 32, '0')",
        "created_at": created,
    }


@dataclass(frozen=True)
class Rebuild:
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX …)
    constraints: list[tuple[str, str, str]]  # (table, name, definition)


def drop_secondary_indexes() -> Rebuild:
    """Drops every index and unique/foreign-key constraint of the bulk tables but the primary keys, and
    returns what rebuilds them."""
    tables = [model._meta.db_table for model in BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
            "FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('u', 'f')",
            [tables],
        )
        constraints = [(table, name, definition) for table, name, definition, _ in cursor.fetchall()]
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))",
            [tables],
        )
        indexes = cursor.fetchall()
        # Foreign keys first: a unique constraint may back one.
        for table, name, _ in sorted(constraints, key=lambda item: not item[2].startswith("FOREIGN")):
            cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {_quote(name)}")
    return Rebuild(indexes=indexes, constraints=constraints)


def rebuild_secondary_indexes(rebuild: Rebuild) -> None:
    steps = [("index", definition) for _, definition in rebuild.indexes]
    steps += [
        ("constraint", f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
        for table, name, definition in sorted(rebuild.constraints, key=lambda item: item[2].startswith("FOREIGN"))
    ]
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        for done, (_, statement) in enumerate(steps, 1):
            cursor.execute(statement)
            progress("indexes and constraints", done, len(steps), started)


def _next_ids(count: dict[type[models.Model], int]) -> dict[type[models.Model], int]:
    """Reserves `count` ids of each model's sequence and returns the base (id = base + n)."""
    bases = {}
    with connection.cursor() as cursor:
        for model, rows in count.items():
            table = model._meta.db_table
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {_quote(table)}")
            base = cursor.fetchone()[0] + 1000
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, base + rows + 1000])
            bases[model] = base
    return bases


def _chunks(total: int, size: int):
    for first in range(1, total + 1, size):
        yield first, min(first + size - 1, total)


def _load(label: str, model, expressions: dict[str, str], total: int, chunk: int, workers: int = 2) -> None:
    """Inserts rows 1..total in chunks, `workers` chunks at a time on their own connections."""
    started = time.monotonic()
    done = 0
    lock = threading.Lock()
    progress(label, 0, total, started)

    def insert(bounds: tuple[int, int]) -> None:
        nonlocal done
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                _insert_select(model, expressions, *bounds)
        finally:
            connection.close()
        with lock:
            done += bounds[1] - bounds[0] + 1
            progress(label, done, total, started)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(insert, _chunks(total, chunk)))


def seed_bulk(*, scale: Scale, organization_id: int, application_id: int, api_key_id: int) -> tuple[BulkIds, dict]:
    """Loads the scale's people, accesses, codes and audit events; returns their id bases and timings."""
    timings = {}
    codes = scale.people * scale.codes_per_person
    bases = _next_ids(
        {OtpUser: scale.people, AppAccess: scale.people, IssuedCode: codes, AuditEvent: scale.audit_events}
    )
    ids = BulkIds(bases[OtpUser], bases[AppAccess], bases[IssuedCode], bases[AuditEvent])
    started = time.monotonic()
    rebuild = drop_secondary_indexes()
    chunk = max(scale.people // 10, 10_000)
    _load("people", OtpUser, _people(organization_id, scale, ids.people), scale.people, chunk)
    _load("app accesses", AppAccess, _accesses(application_id, scale, ids), scale.people, chunk)
    _load("issued codes", IssuedCode, _codes(organization_id, scale, ids), codes, max(codes // 40, 10_000))
    _load("audit events", AuditEvent, _events(organization_id, api_key_id, scale, ids), scale.audit_events, chunk)
    timings["insert_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    rebuild_secondary_indexes(rebuild)
    timings["indexes_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # statistics for the planner, and the visibility map for index-only scans
    timings["analyze_s"] = round(time.monotonic() - started, 1)
    return ids, timings
