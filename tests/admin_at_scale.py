"""Big tables for the admin's query plans: seeded with generate_series in a few seconds, analyzed, and the
plans of what the changelists really run checked with EXPLAIN ANALYZE.

The tables are large enough (and their rare values rare enough) that PostgreSQL plans as it would at
ten million rows: a page that the planner would serve by a scan or a sort of the whole table reads
hundreds of thousands of rows here, well past the budget below.
"""

import json
from dataclasses import dataclass

from django.db import connection
from django.test.utils import CaptureQueriesContext

PEOPLE = 150_000
CODES = 300_000
AUDIT_EVENTS = 150_000
CARDS = 20_000

BIG_TABLES = (
    "otpusers_otpuser",
    "otpusers_appaccess",
    "otpusers_auditevent",
    "credentials_issuedcode",
    "credentials_otpcard",
)
# A page of 100 and a bounded count (1 001) read at most this many rows of a big table: what counting
# a filter that matches one row in twenty reads.
ROWS_READ_BUDGET = 25_000
SORTED_ROWS_BUDGET = 2_000

FIRST_NAMES = "Anna Ben Chloe David Emma Felix Greta Hugo Ida Jonas Klara Lukas Mia Noah Olga Paul Rosa Sven Tara Uwe"
LAST_NAMES = "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Braun"


def mobile_of(n: int) -> str:
    return f"+49151{n:08d}"


def email_of(n: int) -> str:
    """Every tenth person's email is stored with a capital, so that searches must ignore case."""
    return f"{'Person' if n % 10 == 0 else 'person'}{n}@example.com"


def code_public_id(n: int) -> str:
    return f"{n:024x}"


@dataclass
class Seeded:
    big_organization: int
    small_organization: int
    api_key_id: str
    api_key_name: str
    staff_username: str


def seed(*, big_organization, small_organization, application, small_application, policy, api_key, staff) -> Seeded:
    """People n = 1..PEOPLE have id n (every thousandth in the small organization), one app access each,
    codes issued to them in turn, audit events and cards; rare states stay rare, as in a real tenant."""
    big, small = big_organization.pk, small_organization.pk
    statements = [
        f"""
        INSERT INTO otpusers_otpuser (id, created_at, updated_at, organization_id, email, mobile, external_id,
          wechat_id, user_name, ext_id, first_name, last_name, nick_name, text_number, uuid, force_password_change,
          latest_invite_status, is_valid, rollout_stage)
        SELECT n, now() - interval '400 days' + n * interval '2 minutes', now(),
          CASE WHEN n % 1000 = 0 THEN {small} ELSE {big} END,
          CASE WHEN n % 10 = 0 THEN 'Person' ELSE 'person' END || n || '@example.com',
          '+49151' || lpad(n::text, 8, '0'), 'X' || lpad(n::text, 9, '0'), '', 'user' || n, 'ext-' || n,
          (string_to_array('{FIRST_NAMES}', ' '))[1 + n % 20], (string_to_array('{LAST_NAMES}', ' '))[1 + n / 20 % 15],
          '', '', md5('uuid' || n)::uuid, false, '', n % 2000 <> 0, ''
        FROM generate_series(1, {PEOPLE}) AS n
        """,
        f"""
        INSERT INTO otpusers_appaccess (id, created_at, updated_at, public_id, allowed_downloads_num, downloads_used,
          otp_user_id, published_application_id)
        SELECT n, now() - interval '400 days' + n * interval '2 minutes', now(), 'a' || lpad(to_hex(n), 23, '0'),
          CASE WHEN n % 500 = 0 THEN -1 ELSE 5 END, CASE WHEN n % 700 = 0 THEN 5 ELSE n % 3 END, n,
          CASE WHEN n % 1000 = 0 THEN {small_application.pk} ELSE {application.pk} END
        FROM generate_series(1, {PEOPLE}) AS n
        """,
        f"""
        INSERT INTO credentials_issuedcode (id, public_id, identifier_type, identifier_value, scope, source,
          account_id, channels, code_digest, code_sealed, valid_until, attempts, max_attempts, consumed_at,
          superseded_at, locked_at, revoked_at, send_count, last_sent_at, delivery_status, delivery_error,
          created_at, organization_id, otp_user_id)
        SELECT n, lpad(to_hex(n), 24, '0'),
          CASE WHEN n % 2 = 0 THEN 'mobile' ELSE 'email' END,
          CASE WHEN n % 2 = 0 THEN '+49151' || lpad((1 + n % {PEOPLE})::text, 8, '0')
               ELSE 'person' || (1 + n % {PEOPLE}) || '@example.com' END,
          CASE WHEN n % 1000 = 7 THEN 'STORE_LOGIN'
               ELSE (string_to_array('COUPON POINTS REGISTRATION GENERIC USERGROUP', ' '))[1 + n % 5] END,
          '', '', CASE WHEN n % 20 = 0 THEN '["EMAIL"]'::jsonb ELSE '["SMS"]'::jsonb END,
          repeat('ab', 32), '', t + interval '10 minutes',
          CASE WHEN n % 1000 = 1 THEN 5 ELSE 0 END, 5,
          CASE WHEN n % 20 < 12 AND n % 1000 NOT IN (1, 2) THEN t + interval '1 minute' END,
          CASE WHEN n % 20 BETWEEN 12 AND 16 AND n % 1000 NOT IN (1, 2) THEN t + interval '2 minutes' END,
          CASE WHEN n % 1000 = 1 THEN t + interval '3 minutes' END,
          CASE WHEN n % 1000 = 2 THEN t + interval '4 minutes' END,
          1, t, CASE WHEN n % 997 = 0 THEN 'failed' ELSE 'sent' END, '', t,
          CASE WHEN (1 + n % {PEOPLE}) % 1000 = 0 THEN {small} ELSE {big} END, 1 + n % {PEOPLE}
        FROM (SELECT n, now() - interval '400 days' + n * interval '57 seconds' AS t
              FROM generate_series(1, {CODES}) AS n) AS numbered
        """,
        # The newest codes: still outstanding, the very newest not yet delivered.
        f"""
        UPDATE credentials_issuedcode SET consumed_at = NULL, superseded_at = NULL, locked_at = NULL,
          revoked_at = NULL, attempts = 0, created_at = now() - (({CODES} - id) * interval '1 second'),
          valid_until = now() + interval '10 minutes',
          delivery_status = CASE WHEN id > {CODES} - 30 THEN 'pending' ELSE 'sent' END
        WHERE id > {CODES} - 60
        """,
        f"""
        INSERT INTO otpusers_auditevent (actor_type, api_key_id, user_id, actor_label, action, object_type,
          object_id, outcome, reason, detail, client_ip, request_id, created_at, organization_id)
        SELECT
          CASE WHEN n % 1000 = 0 THEN 'staff' WHEN n % 1000 = 1 THEN 'system' ELSE 'api_key' END,
          CASE WHEN n % 1000 > 1 AND n % 5000 = 2 THEN {api_key.pk} END,
          CASE WHEN n % 1000 = 0 THEN {staff.pk} END,
          CASE WHEN n % 1000 = 0 THEN '{staff.username}' ELSE 'API key' END,
          (string_to_array('code.issue code.verify app_access.update card.login', ' '))[1 + n % 4]
            || CASE WHEN n % 1000 = 3 THEN '_rare' ELSE '' END,
          'issuedcode', CASE WHEN n % 2 = 0 THEN lpad(to_hex(n), 24, '0') ELSE (1 + n % {PEOPLE})::text END,
          CASE WHEN n % 500 = 0 THEN 'failure' ELSE 'success' END, '', '{{}}'::jsonb, '10.0.0.1',
          md5('request' || n), now() - interval '400 days' + n * interval '170 seconds',
          CASE WHEN n % 1000 = 500 THEN {small} ELSE {big} END
        FROM generate_series(1, {AUDIT_EVENTS}) AS n
        """,
        f"""
        INSERT INTO credentials_otpcard (id, organization_id, otp_user_id, policy_id, public_id, ext_id, state,
          state_change_reason, state_change_detail, modification_comment, rows, cols, coordinate_card_format,
          grid_sealed, counters, cells_remaining, latest_challenge, successful_login_count, failed_login_count,
          version, created_at, updated_at)
        SELECT n, {big}, n, {policy.pk}, 'c' || lpad(to_hex(n), 23, '0'), 'card-' || n,
          CASE WHEN n % 1000 = 0 THEN 'disabled' ELSE 'active' END, '', '', '', 14, 12, false, 'sealed',
          repeat('0', 168), CASE WHEN n % 800 = 0 THEN 0 ELSE 168 - n % 100 END, '', 0, 0, 0,
          now() - interval '400 days' + n * interval '20 minutes', now()
        FROM generate_series(1, {CARDS}) AS n
        """,
    ]
    with connection.cursor() as cursor:
        # Building an index once over the loaded rows is many times faster than updating it row by row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            [list(BIG_TABLES)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for statement in statements:
            cursor.execute(statement)
        for _, definition in indexes:
            cursor.execute(definition)
        for table in BIG_TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cursor.execute(f"VACUUM ANALYZE {table}")
    return Seeded(big, small, api_key.key_id, api_key.name, staff.username)


def empty_big_tables() -> None:
    """Leaves the database as empty as the other tests expect (organizations and users with it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(BIG_TABLES)}, otpusers_organization, auth_user CASCADE")
        for table in BIG_TABLES:
            cursor.execute(f"ANALYZE {table}")


def plan_of(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        document = cursor.fetchone()[0]
    return (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def plan_problems(sql: str) -> list[str]:
    """What in the executed plan of `sql` would grow with the table: a sequential scan of a big table, a
    scan that reads (returns or filters out) more than a page and a bounded count need, or a sort of
    more rows than a page's worth."""
    problems = []
    for node in _nodes(plan_of(sql)):
        relation = node.get("Relation Name")
        loops = node.get("Actual Loops", 1)
        read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        if relation in BIG_TABLES and node["Node Type"] == "Seq Scan":
            problems.append(f"Seq Scan on {relation}")
        if relation in BIG_TABLES and read > ROWS_READ_BUDGET:
            problems.append(f"{node['Node Type']} on {relation} reads {read} rows")
        if node["Node Type"] == "Sort" and node["Plans"][0].get("Actual Rows", 0) > SORTED_ROWS_BUDGET:
            problems.append(f"Sort of {node['Plans'][0]['Actual Rows']} rows")
    return problems


def touches_big_table(sql: str) -> bool:
    return any(f'"{table}"' in sql for table in BIG_TABLES)


def big_table_queries(context: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in context.captured_queries if touches_big_table(query["sql"])]


def seeded_fixture(django_db_blocker):
    """The body of a module-scoped fixture: seeds, yields what was made, and empties the tables after."""
    from credentials.models import CardPolicy
    from tests.factories import OrganizationFactory, PublishedApplicationFactory, UserFactory, make_api_key

    with django_db_blocker.unblock():
        big_organization, small_organization = OrganizationFactory(), OrganizationFactory()
        api_key, _ = make_api_key(big_organization, name="Checkout service")
        policy = CardPolicy.objects.create(organization=big_organization, ext_id="default", name="Default")
        seeded = seed(
            big_organization=big_organization,
            small_organization=small_organization,
            application=PublishedApplicationFactory(store__organization=big_organization),
            small_application=PublishedApplicationFactory(store__organization=small_organization),
            policy=policy,
            api_key=api_key,
            staff=UserFactory(username="auditor"),
        )
        try:
            yield seeded
        finally:
            empty_big_tables()


def changelist_queries(client, url: str, params: dict) -> tuple[int, list[str]]:
    """The number of statements a changelist ran, and those that read a big table."""
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params)
    assert response.status_code == 200, response.content.decode()[:500]
    return len(context.captured_queries), big_table_queries(context)
