"""otpusers.prepared: lookups compiled once per process."""

import pytest
from django.db import connection
from django.db.models import Q, Value

from otpusers.audit import Actor, audit_record
from otpusers.models import AppAccess, AuditEvent, OtpUser, one_or_none
from otpusers.prepared import PreparedInsert, PreparedLookup, PreparedRow, PreparedUpdate, StandInLost
from tests.factories import AppAccessFactory, OrganizationFactory, OtpUserFactory

pytestmark = pytest.mark.django_db


def access_by_public_id(shape, *, public_id: str, organization_id: int):
    return AppAccess.objects.select_related("otp_user", "published_application__store__organization").filter(
        public_id=public_id, published_application__store__organization_id=organization_id
    )


class Built:
    """A build function that counts how often it is asked."""

    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, shape, **values):
        self.calls += 1
        return self.build(shape, **values)


def test_the_same_object_as_the_queryset_with_its_related_rows_in_one_statement(django_assert_num_queries):
    access = AppAccessFactory()
    organization_id = access.published_application.store.organization_id
    lookup = PreparedLookup(AppAccess, access_by_public_id, public_id=str, organization_id=int)
    expected = one_or_none(access_by_public_id(None, public_id=access.public_id, organization_id=organization_id))
    with django_assert_num_queries(1):
        found = lookup.one_or_none(public_id=access.public_id, organization_id=organization_id)
        assert found == expected and found.otp_user == access.otp_user
        assert found.published_application.store.organization.pk == organization_id
    assert {field.attname: getattr(found, field.attname) for field in AppAccess._meta.concrete_fields} == {
        field.attname: getattr(expected, field.attname) for field in AppAccess._meta.concrete_fields
    }


def test_compiled_once_then_only_the_values_change():
    first, second = AppAccessFactory(), AppAccessFactory()
    built = Built(access_by_public_id)
    lookup = PreparedLookup(AppAccess, built, public_id=str, organization_id=int)
    for access in (first, second, first):
        organization_id = access.published_application.store.organization_id
        assert lookup.one_or_none(public_id=access.public_id, organization_id=organization_id) == access
    assert built.calls == 1
    # Another organization's id finds nothing: every value reaches the SQL.
    other = OrganizationFactory()
    assert lookup.one_or_none(public_id=first.public_id, organization_id=other.pk) is None


def test_each_shape_is_compiled_on_its_own():
    person = OtpUserFactory(mobile="+4915100000009", user_name="Ana.Garcia")
    built = Built(
        lambda field, *, organization_id, lowered: OtpUser.objects.filter(
            organization_id=organization_id
        ).with_identifier(field, lowered, lowered=lowered)
    )
    lookup = PreparedLookup(OtpUser, built, organization_id=int, lowered=str)
    assert lookup.one_or_none("user_name", organization_id=person.organization_id, lowered="ana.garcia") == person
    assert lookup.one_or_none("mobile", organization_id=person.organization_id, lowered="+4915100000009") == person
    assert lookup.one_or_none("mobile", organization_id=person.organization_id, lowered="ana.garcia") is None
    assert built.calls == 2


def test_values_from_the_database_are_converted_as_the_orm_converts_them():
    event = audit_record(actor=Actor.system("tests"), action="x.y", organization=None, detail={"nested": [1, "two"]})
    AuditEvent.objects.filter(pk=event.pk).update(request_id="req-1")
    lookup = PreparedLookup(
        AuditEvent, lambda shape, *, request_id: AuditEvent.objects.filter(request_id=request_id), request_id=str
    )
    found = lookup.one_or_none(request_id="req-1")
    assert found.detail == {"nested": [1, "two"]} and found.created_at == event.created_at


def test_the_sql_is_there_to_be_embedded():
    person = OtpUserFactory(email="someone@example.com")
    lookup = PreparedLookup(OtpUser, lambda shape, *, email: OtpUser.objects.filter(Q(email__lower=email)), email=str)
    sql, parameters = lookup.statement(email="someone@example.com")
    assert parameters == ["someone@example.com"] and sql.endswith("LIMIT 1")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM ({sql}) person", parameters)
        assert cursor.fetchall() == [(person.pk,)]


def test_a_value_that_does_not_reach_the_sql_as_given_is_refused_when_compiled():
    person = OtpUserFactory(email="someone@example.com")
    lookup = PreparedLookup(OtpUser, lambda shape, *, email: OtpUser.objects.filter(email=email.upper()), email=str)
    with pytest.raises(StandInLost):
        lookup.one_or_none(email=person.email)
    lowered = PreparedLookup(
        OtpUser, lambda shape, *, email: OtpUser.objects.with_identifier("email", email), email=str
    )
    with pytest.raises(StandInLost):
        lowered.one_or_none(email=person.email)


def test_a_value_may_be_used_more_than_once():
    person = OtpUserFactory(email="same@example.com", user_name="same@example.com")
    twice = PreparedLookup(
        OtpUser, lambda shape, *, value: OtpUser.objects.filter(email=value, user_name=value), value=str
    )
    assert twice.one_or_none(value="same@example.com") == person
    assert twice.one_or_none(value="other@example.com") is None


def test_the_values_must_be_those_declared():
    lookup = PreparedLookup(OtpUser, lambda shape, *, email: OtpUser.objects.filter(email=email), email=str)
    with pytest.raises(TypeError):
        lookup.one_or_none(mail="x")


def test_annotations_come_along_and_an_ordered_lookup_keeps_its_order():
    from django.db.models import Value

    person = OtpUserFactory()
    older, newer = AppAccessFactory(otp_user=person), AppAccessFactory(otp_user=person)
    lookup = PreparedLookup(
        AppAccess,
        lambda order, *, person_id: (
            AppAccess.objects.filter(otp_user_id=person_id).annotate(marker=Value("seen")).order_by(order)
        ),
        ordered=True,
        person_id=int,
    )
    first = lookup.one_or_none("created_at", person_id=person.pk)
    assert first == older and first.marker == "seen"
    assert lookup.one_or_none("-created_at", person_id=person.pk) == newer


class ReadsOnAReplica:
    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"


def test_a_locking_lookup_asks_the_router_for_the_write_database(settings):
    """As Django's QuerySet.db does for select_for_update: a replica could not lock the row."""
    from django.db import transaction

    person = OtpUserFactory(email="locked@example.com")
    lookup = PreparedLookup(
        OtpUser, lambda shape, *, email: OtpUser.objects.select_for_update().filter(email=email), email=str
    )
    settings.DATABASE_ROUTERS = [f"{__name__}.ReadsOnAReplica"]
    with transaction.atomic():
        assert lookup.one_or_none(email="locked@example.com") == person
        assert lookup.one_or_none(email="locked@example.com") == person  # the compiled statement, same database


def codes_of(shape, *, person_id: int, since):
    from django.db.models import Count, Max

    return (
        AppAccess.objects.filter(otp_user_id=person_id, created_at__gt=since)
        .order_by()
        .values("otp_user_id")
        .annotate(accesses=Count("id"), newest=Max("created_at"))
    )


def test_a_row_is_the_queryset_s_first_row_compiled_once(django_assert_num_queries):
    from datetime import UTC, datetime, timedelta

    person = OtpUserFactory()
    older, newer = AppAccessFactory(otp_user=person), AppAccessFactory(otp_user=person)
    noon = datetime(2026, 11, 29, 12, tzinfo=UTC)
    AppAccess.objects.filter(pk=older.pk).update(created_at=noon)
    AppAccess.objects.filter(pk=newer.pk).update(created_at=noon + timedelta(hours=1))
    AppAccessFactory()  # someone else's
    built = Built(codes_of)
    row = PreparedRow(AppAccess, built, person_id=int, since=datetime)
    since = noon - timedelta(seconds=1)
    with django_assert_num_queries(1):
        found = row.fetch(person_id=person.pk, since=since)
    assert found == next(iter(codes_of(None, person_id=person.pk, since=since)))
    assert found == {"otp_user_id": person.pk, "accesses": 2, "newest": noon + timedelta(hours=1)}
    # Only the values change: a later moment leaves the newer one, a moment after both no row at all.
    assert row.fetch(person_id=person.pk, since=noon)["accesses"] == 1
    assert row.fetch(person_id=person.pk, since=noon + timedelta(hours=1)) is None
    assert built.calls == 1


def test_a_moment_that_does_not_reach_the_sql_as_given_is_refused():
    from datetime import datetime, timedelta

    person = OtpUserFactory()
    row = PreparedRow(
        AppAccess,
        lambda shape, *, person_id, since: codes_of(shape, person_id=person_id, since=since + timedelta(days=1)),
        person_id=int,
        since=datetime,
    )
    with pytest.raises(StandInLost):
        row.fetch(person_id=person.pk, since=person.created_at)


def test_a_row_needs_a_values_queryset():
    row = PreparedRow(OtpUser, lambda shape, *, person_id: OtpUser.objects.filter(pk=person_id), person_id=int)
    with pytest.raises(TypeError):
        row.fetch(person_id=1)


def test_a_row_is_read_on_the_write_database(settings):
    """It decides a write inside the transaction that holds the lock; a replica would not see that
    transaction's rows."""
    from datetime import datetime, timedelta

    from django.db import transaction

    person = OtpUserFactory()
    settings.DATABASE_ROUTERS = [f"{__name__}.ReadsOnAReplica"]
    row = PreparedRow(AppAccess, codes_of, person_id=int, since=datetime)
    with transaction.atomic():
        access = AppAccessFactory(otp_user=person)
        found = row.fetch(person_id=person.pk, since=access.created_at - timedelta(seconds=1))
    assert found["accesses"] == 1


def test_an_insert_writes_what_save_writes_in_one_statement(django_assert_num_queries):
    from otpusers.audit import audit_event

    organization = OrganizationFactory()
    actor = Actor(type="api_key", label="key", client_ip="192.0.2.7", request_id="req-9")
    insert = PreparedInsert(AuditEvent)
    made = [audit_event(actor=actor, action="x.y", organization=organization, detail={"n": n}) for n in (1, 2)]
    saved = audit_event(actor=actor, action="x.y", organization=organization, detail={"n": 1})
    saved.save(force_insert=True)
    with django_assert_num_queries(1):
        insert.save(made[0])
    insert.save(made[1])
    assert made[0].pk and made[1].pk == made[0].pk + 1 and not made[0]._state.adding
    rows = {event.pk: event for event in AuditEvent.objects.filter(pk__in=[made[0].pk, made[1].pk, saved.pk])}

    def written(event):
        return {
            f.attname: getattr(event, f.attname)
            for f in AuditEvent._meta.concrete_fields
            if f.attname not in {"id", "created_at"}
        }

    assert written(rows[made[0].pk]) == written(rows[saved.pk])
    assert rows[made[1].pk].detail == {"n": 2} and rows[made[0].pk].created_at is not None


def test_an_update_and_its_audit_event_in_one_statement_or_neither(django_assert_num_queries):
    from datetime import UTC, datetime

    from otpusers.audit import audit_event, audited_update

    access = AppAccessFactory(downloads_used=1)
    update = PreparedUpdate(
        AppAccess,
        lambda shape, *, access_id, used_before, used: (
            AppAccess.objects.filter(pk=access_id, downloads_used=Value(used_before)),
            {"downloads_used": used},
        ),
        access_id=int,
        used_before=int,
        used=int,
    )
    seen = PreparedUpdate(
        OtpUser,
        lambda shape, *, person_id, at: (OtpUser.objects.filter(pk=person_id), {"last_login_at": at}),
        person_id=int,
        at=datetime,
    )
    moment = datetime(2026, 11, 29, 12, tzinfo=UTC)
    actor = Actor(type="api_key", label="key", client_ip="192.0.2.7", request_id="req-9")
    organization = access.otp_user.organization

    def attempt(used_before, *, only_if_updated=True):
        event = audit_event(actor=actor, action="x.y", organization=organization, target=access, detail={"n": 1})
        written = audited_update(
            event=event,
            update=update.statement(access_id=access.pk, used_before=used_before, used=used_before + 1),
            then=seen.statement(person_id=access.otp_user_id, at=moment),
            only_if_updated=only_if_updated,
        )
        return written, event

    with django_assert_num_queries(1):
        written, event = attempt(1)
    assert written and event.pk and not event._state.adding
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.client_ip, stored.detail, stored.object_type) == ("192.0.2.7", {"n": 1}, "appaccess")
    access.refresh_from_db()
    access.otp_user.refresh_from_db()
    assert access.downloads_used == 2 and access.otp_user.last_login_at == moment

    # Read as 1 again, but it is 2 now: nothing is written, the event neither.
    written, event = attempt(1)
    assert not written and event.pk is None
    assert AuditEvent.objects.filter(action="x.y").count() == 1
    # Nothing expected to change: the event is written all the same, the second UPDATE is not.
    AppAccess.objects.filter(pk=access.pk).update(downloads_used=5)
    OtpUser.objects.filter(pk=access.otp_user_id).update(last_login_at=None)
    written, _ = attempt(1, only_if_updated=False)
    assert written and AuditEvent.objects.filter(action="x.y").count() == 2
    access.otp_user.refresh_from_db()
    assert access.otp_user.last_login_at is None


@pytest.mark.django_db(transaction=True)
def test_several_inserts_in_one_statement_and_no_transaction():
    from otpusers.audit import audit_event

    organization = OrganizationFactory()
    actor = Actor(type="api_key", label="key", client_ip="192.0.2.7", request_id="req-9")
    made = [audit_event(actor=actor, action="x.y", organization=organization, detail={"n": n}) for n in (1, 2, 3)]
    statements = []

    def record(execute, sql, parameters, many, context):
        statements.append((sql.split(" ", 1)[0], connection.in_atomic_block))
        return execute(sql, parameters, many, context)

    with connection.execute_wrapper(record):
        PreparedInsert(AuditEvent).save_many(made)
    assert statements == [("INSERT", False)]  # bulk_create would run it inside atomic()
    assert [event.pk for event in made] == sorted(event.pk for event in made) and not made[2]._state.adding
    stored = AuditEvent.objects.filter(pk__in=[event.pk for event in made]).order_by("pk")
    assert [(event.detail, event.client_ip, event.organization_id) for event in stored] == [
        ({"n": n}, "192.0.2.7", organization.pk) for n in (1, 2, 3)
    ]
    assert PreparedInsert(AuditEvent).save_many([]) == []


def unsaved_code(**extra):
    from django.utils import timezone

    from credentials.services import issued_codes

    person = OtpUserFactory(mobile="+4915100000077")
    issued, _ = issued_codes._new_code(
        person=person, identifier_type="mobile", identifier_value=person.mobile, scope="GENERIC", now=timezone.now(),
        **extra,
    )  # fmt: skip
    return issued


def test_a_new_row_and_the_event_of_its_making_in_one_statement(django_assert_num_queries):
    from credentials.models import IssuedCode
    from otpusers.audit import audit_event, audited_insert

    made = unsaved_code(surface="internal")
    event = audit_event(actor=Actor.system("tests"), action="code.issue", organization=made.organization, target=made)
    with django_assert_num_queries(1):
        audited_insert(event=event, insert=PreparedInsert(IssuedCode), instance=made)
    assert made.pk and not made._state.adding
    stored = AuditEvent.objects.get(action="code.issue")
    assert (stored.object_type, stored.object_id) == ("issuedcode", made.public_id)
    assert IssuedCode.objects.get(pk=made.pk).public_id == made.public_id


def test_a_composed_insert_takes_values_not_expressions():
    from credentials.models import IssuedCode

    made = unsaved_code(surface="internal")
    made.source = Value("INSTORE")  # an expression, as a field left to its db_default would be
    with pytest.raises(TypeError):
        PreparedInsert(IssuedCode).statement(made)


def test_an_insert_is_for_new_rows_only():
    event = audit_record(actor=Actor.system("tests"), action="x.y", organization=None)
    with pytest.raises(TypeError):
        PreparedInsert(AuditEvent).save(event)


def test_an_update_changes_what_the_queryset_s_update_changes_compiled_once(django_assert_num_queries):
    from datetime import UTC, datetime

    first, second = AppAccessFactory(), AppAccessFactory()
    built = Built(
        lambda shape, *, access_id, used, at: (
            AppAccess.objects.filter(pk=access_id),
            {"downloads_used": used, "last_download_at": at},
        )
    )
    update = PreparedUpdate(AppAccess, built, access_id=int, used=int, at=datetime)
    moment = datetime(2026, 11, 29, 12, tzinfo=UTC)
    with django_assert_num_queries(1):
        assert update.run(access_id=first.pk, used=3, at=moment) == 1
    assert update.run(access_id=second.pk, used=1, at=None) == 1
    assert update.run(access_id=0, used=1, at=None) == 0
    assert built.calls == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.downloads_used, first.last_download_at) == (3, moment)
    assert (second.downloads_used, second.last_download_at) == (1, None)


def test_a_moment_stored_as_text_is_substituted_as_text():
    """SQLite (make run) stores moments as text: the stand-in reaches the SQL adapted, and so must the value."""
    from datetime import UTC, datetime, timedelta

    from django.db.utils import ConnectionHandler

    from otpusers import prepared

    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})["default"]
    stand_ins = prepared._stand_ins({"since": datetime, "person_id": int}, {"since": None, "person_id": None})
    adapted = sqlite.ops.adapt_datetimefield_value
    raw = [stand_ins["person_id"], adapted(stand_ins["since"]), "constant"]
    parameters = prepared._parameters(raw, stand_ins, "test", sqlite)
    moment = datetime(2026, 11, 29, 12, tzinfo=UTC) + timedelta(microseconds=5)
    assert prepared._substituted(parameters, {"since": moment, "person_id": 7}) == [7, adapted(moment), "constant"]


def test_the_first_rows_of_an_ordered_lookup_as_the_queryset_slices_them(django_assert_num_queries):
    person = OtpUserFactory()
    accesses = [AppAccessFactory(otp_user=person) for _ in range(3)]
    AppAccessFactory()  # someone else's
    built = Built(lambda shape, *, person_id, after: AppAccess.objects.filter(otp_user_id=person_id, id__gt=after))
    lookup = PreparedLookup(
        AppAccess, lambda shape, **values: built(shape, **values).order_by("id"), ordered=True, person_id=int, after=int
    )
    with django_assert_num_queries(1):
        assert lookup.first(None, 2, person_id=person.pk, after=0) == accesses[:2]
    assert lookup.first(None, 2, person_id=person.pk, after=accesses[1].pk) == accesses[2:]
    assert lookup.first(None, 5, person_id=person.pk, after=0) == accesses
    assert built.calls == 2  # once per count
    with pytest.raises(TypeError):
        PreparedLookup(AppAccess, built, person_id=int, after=int).first(None, 2, person_id=person.pk, after=0)
