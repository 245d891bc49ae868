"""Indexes on django-tasks-db's table for what otpsite asks of it at scale: the workers' look for running
tasks of dead workers (every heartbeat) and `manage.py prune`'s finished tasks, oldest first. Both are
partial, so they stay small however many tasks have run."""

from django.db import migrations

TABLE = "django_tasks_database_dbtaskresult"


class Migration(migrations.Migration):
    dependencies = [
        ("credentials", "0003_delivery_attempts_and_workers"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX credentials_tasks_running ON {TABLE} (started_at) WHERE status = 'RUNNING'",
            "DROP INDEX credentials_tasks_running",
        ),
        migrations.RunSQL(
            f"CREATE INDEX credentials_tasks_finished ON {TABLE} (finished_at) "
            "WHERE status IN ('SUCCESSFUL', 'FAILED')",
            "DROP INDEX credentials_tasks_finished",
        ),
    ]
