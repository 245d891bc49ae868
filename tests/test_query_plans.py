"""Every hot lookup uses an index at scale: 200 000 people in one organization (each with an issued code and
an app access), 20 000 cards, 5 000 other organizations with a store, a publication and a key each, all
seeded with generate_series and ANALYZEd. The SQL is what the real services and endpoints run (captured
while calling them), so a regression in the code fails here. The people looked up are the first ones
created (the lowest ids): a lookup that walks the primary key backwards would reach them last."""

import hashlib
import itertools
import json
import re
from dataclasses import dataclass

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from credentials import services as credential_services
from credentials.choices import Channel, IdentifierType, Scope, Surface
from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AppAccess, Organization, PublishedApplication
from tests.factories import make_api_key

PEOPLE = 200_000
CARDS = 20_000
OTHER_ORGANIZATIONS = 5_000
BIG_TABLES = {
    "otpusers_organization",
    "otpusers_store",
    "otpusers_publishedapplication",
    "otpusers_otpuser",
    "otpusers_appaccess",
    "otpusers_apikey",
    "credentials_issuedcode",
    "credentials_otpcard",
}
# A person's codes are read through one of these; never through an index of every person's codes by time.
PER_PERSON_CODE_INDEXES = {
    "credentials_code_recipient",
    "credentials_code_person_time",
    "credentials_issuedcode_otp_user_id_649bc73d",
}
WHOLE_TABLE_TIME_INDEXES = {"credentials_code_time", "credentials_code_org_time", "otpusers_audit_time"}
ACTOR = Actor.system("query plans")
CARD_VIEW = ("AccessControl.CredentialView", "AccessControl.CredentialChangeState")

SEED = f"""
INSERT INTO otpusers_organization (created_at, updated_at, name, slug, ext_id, public_id, code_length, code_alphabet,
    code_validity_seconds, code_max_attempts, daily_issue_limit, resend_cooldown_seconds, code_read_back_allowed)
SELECT now(), now(), 'Organization ' || n, 'bulk-' || n, 'client-' || n, lpad(to_hex(n), 24, '0'), 6, 'digits',
    600, 5, 1000, 0, true
FROM generate_series(1, {OTHER_ORGANIZATIONS + 1}) AS n;

INSERT INTO otpusers_store (created_at, updated_at, organization_id, name, slug, security, public_id)
SELECT now(), now(), id, 'Store ' || slug, 'store-' || slug, 'public', public_id FROM otpusers_organization;

INSERT INTO otpusers_publishedapplication (created_at, updated_at, store_id, name, slug, visibility,
    application_public_id, build_file, notify_otp_users_on_new_build, public_id, access_count)
SELECT now(), now(), id, 'App', 'app', 'active', public_id, '', false, lpad(to_hex(id + 1000000), 24, '0'), 0
FROM otpusers_store;

INSERT INTO otpusers_apikey (created_at, updated_at, organization_id, name, key_id, secret_sha256, secret_md5_sha256,
    permissions, created_by_id)
SELECT now(), now(), id, 'key', lpad(to_hex(id), 16, '0'), md5(slug) || md5(slug), md5(slug) || md5(slug), '[]', NULL
FROM otpusers_organization;

INSERT INTO credentials_cardpolicy (organization_id, ext_id, name, is_default, rows, cols, cell_length,
    coordinate_card_format, credential_lifetime_days, low_on_challenges_threshold, max_cred_failure_count,
    tmp_locking_threshold, tmp_locking_duration_seconds, tmp_locking_mode, created_at, updated_at)
SELECT id, 'default', 'Default', true, 14, 12, 4, false, 3650, 20, 3, 2, 60, 'strict', now(), now()
FROM otpusers_organization;
"""
# One organization's rows, with its ids as parameters (no join for the planner to get wrong on empty stats).
# Every fourth person and the first have a code and an access, counted from the first person's id, which
# depends on how many people earlier tests made (sequences survive TRUNCATE): 50 001 whatever it is.
ROWS = f"""
INSERT INTO otpusers_otpuser (created_at, updated_at, organization_id, email, mobile, external_id, wechat_id,
    user_name, ext_id, first_name, last_name, nick_name, text_number, uuid, force_password_change,
    latest_invite_status, is_valid, rollout_stage)
SELECT now() - make_interval(secs => {PEOPLE} - n), now(), %(organization)s,
    'person' || n || '@bulk.example', '+1' || lpad(n::text, 10, '0'), 'external-' || n, 'wechat-' || n,
    'user' || n, 'ext-' || n, '', '', '', '', gen_random_uuid(), false, '', true, ''
FROM generate_series(1, {PEOPLE}) AS n;

INSERT INTO credentials_issuedcode (organization_id, otp_user_id, public_id, identifier_type, identifier_value, scope,
    source, account_id, channels, code_digest, code_sealed, valid_until, attempts, max_attempts, send_count,
    last_sent_at, delivery_status, delivery_error, created_at)
SELECT organization_id, id, lpad(to_hex(id), 24, '0'), 'mobile', mobile, 'GENERIC', '', '', '[]',
    md5(id::text) || md5(id::text), '', created_at + interval '10 minutes', 0, 5, 1, created_at, 'sent', '', created_at
FROM otpusers_otpuser
WHERE (id - (SELECT min(id) FROM otpusers_otpuser)) %% 4 = 3 OR id = (SELECT min(id) FROM otpusers_otpuser);

INSERT INTO otpusers_appaccess (created_at, updated_at, published_application_id, store_id, otp_user_id, public_id,
    allowed_downloads_num, downloads_used)
SELECT created_at, now(), %(application)s, %(store)s, id, 'a' || lpad(to_hex(id), 23, '0'), -1, 0
FROM otpusers_otpuser
WHERE (id - (SELECT min(id) FROM otpusers_otpuser)) %% 4 = 3 OR id = (SELECT min(id) FROM otpusers_otpuser);

INSERT INTO credentials_otpcard (organization_id, otp_user_id, policy_id, public_id, ext_id, state,
    state_change_reason, state_change_detail, modification_comment, rows, cols, coordinate_card_format, grid_sealed,
    counters, cells_remaining, latest_challenge, successful_login_count, failed_login_count, version, created_at,
    updated_at)
SELECT organization_id, id, %(policy)s, 'c' || lpad(to_hex(id), 23, '0'), 'card-' || id, 'active', '', '', '',
    14, 12, false, 'x', repeat('0', 168), 168, '', 0, 0, 0, created_at, now()
FROM otpusers_otpuser
WHERE id %% ({PEOPLE} / {CARDS}) = 0 AND id > (SELECT min(id) FROM otpusers_otpuser);

UPDATE otpusers_publishedapplication AS application SET access_count = counted.n
FROM (SELECT published_application_id, count(*) AS n FROM otpusers_appaccess GROUP BY 1) AS counted
WHERE application.id = counted.published_application_id;
"""
TABLES = [
    "credentials_otpcard",
    "credentials_cardpolicy",
    "credentials_issuedcode",
    "otpusers_appaccess",
    "otpusers_auditevent",
    "otpusers_apikey",
    "otpusers_otpuser",
    "otpusers_publishedapplication",
    "otpusers_store",
    "otpusers_organization",
]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The seeded tables (committed for this module, emptied after it) and the big organization's key."""
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            # Indexes are built once after the load, much faster than row by row; those behind
            # constraints (primary and unique keys) stay.
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                [TABLES],
            )
            indexes = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            # Without row-by-row foreign-key checks where the role may (a superuser, as bin/with-postgres
            # makes): the seed is consistent by construction. Elsewhere it is only slower.
            try:
                with transaction.atomic():
                    cursor.execute("SET session_replication_role = replica")
            except DatabaseError:
                pass
            try:
                cursor.execute(SEED)
                ids = {
                    "organization": "SELECT id FROM otpusers_organization WHERE slug = 'bulk-1'",
                    "store": "SELECT id FROM otpusers_store WHERE slug = 'store-bulk-1'",
                    "application": "SELECT a.id FROM otpusers_publishedapplication a JOIN otpusers_store s "
                    "ON s.id = a.store_id WHERE s.slug = 'store-bulk-1'",
                    "policy": "SELECT p.id FROM credentials_cardpolicy p JOIN otpusers_organization o "
                    "ON o.id = p.organization_id WHERE o.slug = 'bulk-1'",
                }
                for name, query in ids.items():
                    cursor.execute(query)
                    ids[name] = cursor.fetchone()[0]
                for statement in ROWS.split(";\n\n"):
                    cursor.execute(statement, ids)
            finally:
                for _, definition in indexes:
                    cursor.execute(definition)
                cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("ANALYZE " + ", ".join(TABLES))
        organization = Organization.objects.get(slug="bulk-1")
        credential_services.card_create(person=first_person(organization), state="active", actor=ACTOR)
        services.api_key_cache_clear()
        api_key, token = make_api_key(organization, *CARD_VIEW, "mad.store.otpUsers.list", "mad.store.otpUsers.get")
        yield organization, token
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")


@dataclass(frozen=True)
class Statement:
    """A statement as the code ran it: Django's SQL (%s placeholders) and its parameters."""

    sql: str
    parameters: tuple

    @property
    def literal(self) -> str:
        return connection.ops.compose_sql(self.sql, self.parameters)

    def positional(self) -> str:
        """The SQL with $1, $2, … for its parameters, as psycopg sends it when it prepares it."""
        numbers = itertools.count(1)
        return re.sub(r"%([s%])", lambda match: f"${next(numbers)}" if match[1] == "s" else "%", self.sql)


def _nodes(plan) -> list[dict]:
    plan = plan if isinstance(plan, list) else json.loads(plan)
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes


def plan_nodes(statement: Statement) -> list[dict]:
    """The plan PostgreSQL makes for the statement with its values (a custom plan)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement.literal)
        return _nodes(cursor.fetchone()[0])


def generic_plan_nodes(statement: Statement) -> list[dict]:
    """The plan of the statement prepared on the server, made without its values: what a connection runs once
    psycopg has prepared a statement (settings: prepare_threshold) and PostgreSQL settled on a generic plan."""
    with connection.cursor() as cursor:
        cursor.execute("PREPARE otpsite_plan_check AS " + statement.positional())
        try:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            values = connection.ops.compose_sql(", ".join(["%s"] * len(statement.parameters)), statement.parameters)
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE otpsite_plan_check{f'({values})' if values else ''}")
            return _nodes(cursor.fetchone()[0])
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE otpsite_plan_check")


def _assert_indexed(nodes: list[dict], statement: Statement, which: str) -> None:
    described = f"{which} plan of {statement.literal[:600]}: {json.dumps(nodes, default=str)[:3000]}"
    for node in nodes:
        assert not (node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG_TABLES), described
        assert not (node.get("Index Name", "").endswith("_pkey") and node.get("Scan Direction") == "Backward"), (
            described
        )
        index = node.get("Index Name", "")
        assert index not in WHOLE_TABLE_TIME_INDEXES and "_created_at_" not in index, described
        assert not index.endswith("_trgm"), described  # substring search; an equality has its own index


def assert_indexed(statement: Statement) -> set[str]:
    """No sequential scan of a big table, no backward walk of a primary key, no sort of a big table, no
    trigram index for an equality, in the plan made with the values and in the generic one alike. Answers
    the indexes both plans use."""
    custom, generic = plan_nodes(statement), generic_plan_nodes(statement)
    _assert_indexed(custom, statement, "custom")
    _assert_indexed(generic, statement, "generic")
    return {node["Index Name"] for node in custom if "Index Name" in node} & {
        node["Index Name"] for node in generic if "Index Name" in node
    }


def selects_run_by(call) -> list[Statement]:
    """The statements starting with SELECT or WITH the call runs: its reads, with the client limits' statement
    (where a read may be made ahead) and the conditional UPDATEs written with their audit event (EXPLAIN
    plans them without running them)."""
    statements = []

    def capture(execute, sql, parameters, many, context):
        if sql.lstrip().startswith(("SELECT", "WITH")):
            statements.append(Statement(sql, tuple(parameters or ())))
        return execute(sql, parameters, many, context)

    with connection.execute_wrapper(capture):
        call()
    assert statements, "the call ran no SELECT"
    return statements


def indexes_used(statements: list[Statement]) -> set[str]:
    return {name for statement in statements for name in assert_indexed(statement)}


def first_person(organization):
    return organization.people.order_by("id").first()


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("identifier_type", "field"),
    [
        (IdentifierType.EMAIL, "email"),
        (IdentifierType.MOBILE, "mobile"),
        (IdentifierType.USER_NAME, "user_name"),
        (IdentifierType.EXTERNAL_ID, "external_id"),
        (IdentifierType.WECHAT, "wechat_id"),
    ],
)
def test_identifier_lookups_of_the_oldest_person(seeded, identifier_type, field):
    organization, _ = seeded
    person = first_person(organization)
    value = getattr(person, field).upper()
    found = []
    statements = selects_run_by(
        lambda: found.append(
            credential_services.otp_user_find(organization=organization, identifier_type=identifier_type, value=value)
        )
    )
    assert found == [person]
    assert f"otpusers_otpuser_unique_{field}" in indexes_used(statements)


def test_validate_finds_the_person_and_their_code_through_indexes(seeded):
    organization, _ = seeded
    person = first_person(organization)
    statements = selects_run_by(
        lambda: credential_services.code_verify(
            organization=organization,
            identifier_type=IdentifierType.MOBILE,
            identifier_value=person.mobile,
            scope=Scope.GENERIC,
            code="000000",
            actor=ACTOR,
            surface=Surface.INTERNAL,
        )
    )
    assert len([statement for statement in statements if "SELECT person.*" in statement.sql]) == 1
    used = indexes_used(statements)
    assert "otpusers_otpuser_unique_mobile" in used and used & PER_PERSON_CODE_INDEXES, used


def test_read_back_finds_the_person_and_their_code_through_indexes(seeded):
    organization, _ = seeded
    person = first_person(organization)
    statements = selects_run_by(
        lambda: pytest.raises(
            credential_services.NoValidCode,  # the seeded codes are expired and unreadable: the query is the point
            credential_services.code_read_back,
            organization=organization,
            identifier_type=IdentifierType.EMAIL,
            identifier_value=person.email,
            scope=Scope.GENERIC,
            threshold_seconds=None,
            actor=ACTOR,
        )
    )
    assert "otpusers_otpuser_unique_email" in indexes_used(statements)


def test_issue_locks_the_person_and_reads_their_recent_codes_through_indexes(seeded):
    organization, _ = seeded
    person = first_person(organization)
    statements = selects_run_by(
        lambda: credential_services.code_issue(
            organization=organization,
            identifier_type=IdentifierType.USER_NAME,
            identifier_value=person.user_name,
            scope=Scope.GENERIC,
            destinations=[credential_services.Destination(Channel.SMS, "")],
            actor=ACTOR,
            surface=Surface.INTERNAL,
        )
    )
    used = indexes_used(statements)
    assert "otpusers_otpuser_unique_user_name" in used and used & PER_PERSON_CODE_INDEXES, used


def test_the_api_key_with_its_organization(seeded):
    organization, token = seeded
    key_id, secret = token.split(".", 1)
    services.api_key_cache_clear()
    statements = selects_run_by(lambda: services.api_key_authenticate(key_id=key_id, secret=secret))
    assert any(name.startswith("otpusers_apikey_key_id") for name in indexes_used(statements))


def applivery_client(seeded) -> tuple[APIClient, str]:
    organization, token = seeded
    store = organization.stores.get()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client, f"/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users"


@pytest.mark.parametrize("page", [1, 3])
def test_the_applivery_list_reads_one_page_in_index_order_and_counts_nothing(seeded, page):
    client, url = applivery_client(seeded)
    services.api_key_cache_clear()
    responses = []
    statements = selects_run_by(lambda: responses.append(client.get(f"{url}?page={page}&limit=50")))
    data = responses[0].json()["data"]
    assert data["totalDocs"] == AppAccess.objects.filter(store__organization=seeded[0]).count() > 50_000
    assert len(data["items"]) == 50
    assert not any("COUNT(" in statement.sql.upper() for statement in statements)
    assert "otpusers_access_store_time" in indexes_used(statements)
    for statement in statements:
        for nodes in (plan_nodes(statement), generic_plan_nodes(statement)):
            assert not any(node["Node Type"] in ("Sort", "Incremental Sort") for node in nodes), statement.literal


def test_the_applivery_list_of_one_publication(seeded):
    client, url = applivery_client(seeded)
    application = PublishedApplication.objects.get(store__organization=seeded[0])
    responses = []
    statements = selects_run_by(
        lambda: responses.append(client.get(f"{url}?publishedApplicationId={application.public_id}"))
    )
    assert responses[0].json()["data"]["totalDocs"] == application.accesses.count() > 50_000
    assert "otpusers_access_app_time" in indexes_used(statements)


def test_one_applivery_otp_user(seeded):
    client, url = applivery_client(seeded)
    access = AppAccess.objects.filter(otp_user=first_person(seeded[0])).get()
    statements = selects_run_by(lambda: client.get(f"{url}/{access.public_id}"))
    assert any(name.startswith("otpusers_appaccess_public_id") for name in indexes_used(statements))


def nevis_client(seeded) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {seeded[1]}")
    return client


def test_nevisidm_finds_cards_through_the_users_external_id(seeded):
    organization, _ = seeded
    person = first_person(organization)
    card = person.otp_cards.get()
    base = f"/nevisidm/api/core/v1/{organization.ext_id}/users/{person.ext_id}/otp-credentials"
    client = nevis_client(seeded)
    statements = selects_run_by(lambda: client.get(base)) + selects_run_by(lambda: client.get(f"{base}/{card.ext_id}"))
    used = indexes_used(statements)
    assert "otpusers_otpuser_unique_ext_id" in used or "credentials_otpcard_unique_ext_id" in used


def test_nevisidm_challenge_locks_the_users_card_through_indexes(seeded):
    organization, _ = seeded
    person = first_person(organization)
    client = nevis_client(seeded)
    url = f"/nevisidm/api/auth/v1/{organization.ext_id}/users/{person.ext_id}/otp/challenge"
    responses = []
    statements = selects_run_by(lambda: responses.append(client.post(url)))
    assert responses[0].status_code == 200
    assert {"otpusers_otpuser_unique_ext_id", "credentials_card_person_time"} <= indexes_used(statements)


def test_the_store_page_finds_the_access_of_an_email_through_indexes(seeded):
    from credentials.services.store_sign_in import _access_for

    organization, _ = seeded
    person = first_person(organization)
    application = PublishedApplication.objects.get(store__organization=organization)
    found = []
    statements = selects_run_by(lambda: found.append(_access_for(application.pk, person.email.upper())))
    assert found[0].otp_user == person
    assert "otpusers_otpuser_unique_email" in indexes_used(statements)


def test_the_capillary_scheme_finds_the_key_the_same_way(seeded):
    _, token = seeded
    key_id, secret = token.split(".", 1)
    services.api_key_cache_clear()
    md5 = hashlib.md5(secret.encode()).hexdigest()
    found = []
    statements = selects_run_by(
        lambda: found.append(services.api_key_authenticate(key_id=key_id, secret=md5, md5_of_secret=True))
    )
    assert found[0] is not None
    assert any(name.startswith("otpusers_apikey_key_id") for name in indexes_used(statements))
