"""The store on each app access (the Applivery list's index) and each publication's exact count of app
accesses (the list's totalDocs), kept by triggers in the database.

On PostgreSQL, statement-level triggers with transition tables keep the count: one UPDATE per statement
whatever the number of rows, so bulk inserts (the benchmark's seeding) stay fast; a BEFORE INSERT trigger
fills `store_id` for rows inserted without it. On SQLite (`make run`), row-level triggers keep the count.
Each trigger runs in the inserting or deleting statement's transaction and updates the publication's row,
so the count is exact under concurrency: parallel writers of one publication queue on its row lock."""

import django.db.models.deletion
from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery

POSTGRESQL_TRIGGERS = """
CREATE FUNCTION otpusers_appaccess_fill_store() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT store_id INTO NEW.store_id FROM otpusers_publishedapplication WHERE id = NEW.published_application_id;
    RETURN NEW;
END $$;
CREATE TRIGGER otpusers_appaccess_fill_store BEFORE INSERT ON otpusers_appaccess
    FOR EACH ROW WHEN (NEW.store_id IS NULL) EXECUTE FUNCTION otpusers_appaccess_fill_store();

CREATE FUNCTION otpusers_appaccess_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE otpusers_publishedapplication AS application SET access_count = application.access_count + added.n
    FROM (SELECT published_application_id, count(*) AS n FROM inserted GROUP BY published_application_id) AS added
    WHERE application.id = added.published_application_id;
    RETURN NULL;
END $$;
CREATE TRIGGER otpusers_appaccess_count_inserted AFTER INSERT ON otpusers_appaccess
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION otpusers_appaccess_count_inserted();

CREATE FUNCTION otpusers_appaccess_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE otpusers_publishedapplication AS application SET access_count = application.access_count - gone.n
    FROM (SELECT published_application_id, count(*) AS n FROM deleted GROUP BY published_application_id) AS gone
    WHERE application.id = gone.published_application_id;
    RETURN NULL;
END $$;
CREATE TRIGGER otpusers_appaccess_count_deleted AFTER DELETE ON otpusers_appaccess
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION otpusers_appaccess_count_deleted();

CREATE FUNCTION otpusers_appaccess_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE otpusers_publishedapplication SET access_count = access_count - 1 WHERE id = OLD.published_application_id;
    UPDATE otpusers_publishedapplication SET access_count = access_count + 1 WHERE id = NEW.published_application_id;
    RETURN NULL;
END $$;
CREATE TRIGGER otpusers_appaccess_count_moved AFTER UPDATE OF published_application_id ON otpusers_appaccess
    FOR EACH ROW WHEN (OLD.published_application_id IS DISTINCT FROM NEW.published_application_id)
    EXECUTE FUNCTION otpusers_appaccess_count_moved();
"""
POSTGRESQL_DROP = """
DROP TRIGGER otpusers_appaccess_fill_store ON otpusers_appaccess;
DROP TRIGGER otpusers_appaccess_count_inserted ON otpusers_appaccess;
DROP TRIGGER otpusers_appaccess_count_deleted ON otpusers_appaccess;
DROP TRIGGER otpusers_appaccess_count_moved ON otpusers_appaccess;
DROP FUNCTION otpusers_appaccess_fill_store();
DROP FUNCTION otpusers_appaccess_count_inserted();
DROP FUNCTION otpusers_appaccess_count_deleted();
DROP FUNCTION otpusers_appaccess_count_moved();
"""
SQLITE_TRIGGERS = [
    """CREATE TRIGGER otpusers_appaccess_count_inserted AFTER INSERT ON otpusers_appaccess BEGIN
        UPDATE otpusers_publishedapplication SET access_count = access_count + 1 WHERE id = NEW.published_application_id;
    END""",
    """CREATE TRIGGER otpusers_appaccess_count_deleted AFTER DELETE ON otpusers_appaccess BEGIN
        UPDATE otpusers_publishedapplication SET access_count = access_count - 1 WHERE id = OLD.published_application_id;
    END""",
    """CREATE TRIGGER otpusers_appaccess_count_moved AFTER UPDATE OF published_application_id ON otpusers_appaccess
        WHEN OLD.published_application_id <> NEW.published_application_id BEGIN
        UPDATE otpusers_publishedapplication SET access_count = access_count - 1 WHERE id = OLD.published_application_id;
        UPDATE otpusers_publishedapplication SET access_count = access_count + 1 WHERE id = NEW.published_application_id;
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER otpusers_appaccess_count_inserted",
    "DROP TRIGGER otpusers_appaccess_count_deleted",
    "DROP TRIGGER otpusers_appaccess_count_moved",
]


def fill(apps, schema_editor):
    AppAccess = apps.get_model("otpusers", "AppAccess")
    PublishedApplication = apps.get_model("otpusers", "PublishedApplication")
    AppAccess.objects.update(
        store_id=Subquery(
            PublishedApplication.objects.filter(pk=OuterRef("published_application_id")).values("store_id")
        )
    )
    PublishedApplication.objects.update(
        access_count=Subquery(
            AppAccess.objects.filter(published_application_id=OuterRef("pk"))
            .values("published_application_id")
            .annotate(n=Count("*"))
            .values("n")
        )
    )
    PublishedApplication.objects.filter(access_count__isnull=True).update(access_count=0)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_TRIGGERS)
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)
    else:
        raise ImproperlyConfigured(f"otpsite keeps app-access counts by trigger on PostgreSQL and SQLite, not {vendor}.")


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("otpusers", "0003_admin_search_indexes")]

    operations = [
        migrations.AddField(
            model_name="appaccess",
            name="store",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="otpusers.store",
            ),
        ),
        migrations.AddField(
            model_name="publishedapplication",
            name="access_count",
            field=models.PositiveBigIntegerField(
                default=0,
                editable=False,
                help_text="App accesses of this publication, kept exact by the database on every insert and "
                "delete (the Applivery list's totalDocs, without counting the rows).",
                null=True,
                verbose_name="OTP users",
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="appaccess",
            name="store",
            field=models.ForeignKey(
                editable=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="otpusers.store"
            ),
        ),
        migrations.AlterField(
            model_name="publishedapplication",
            name="access_count",
            field=models.PositiveBigIntegerField(
                default=0,
                editable=False,
                help_text="App accesses of this publication, kept exact by the database on every insert and "
                "delete (the Applivery list's totalDocs, without counting the rows).",
                verbose_name="OTP users",
            ),
        ),
        migrations.AddIndex(
            model_name="appaccess",
            index=models.Index(fields=["store", "-created_at", "-id"], name="otpusers_access_store_time"),
        ),
        migrations.AddIndex(
            model_name="appaccess",
            index=models.Index(fields=["published_application", "-created_at", "-id"], name="otpusers_access_app_time"),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
