"""The client-limit counters as an UNLOGGED table on PostgreSQL.

Every API request raises one counter. In a logged table each of those commits waits for a WAL flush (an
fsync) although a counter lost in a crash costs nothing worth keeping: an unlogged table writes no WAL, so
the commit does not wait. After a crash PostgreSQL empties the table (windows start afresh), and standbys do
not carry it (the counters are written, so they are always on the primary)."""

from django.db import migrations


def _alter(persistence: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("otpsite", "RateLimitCounter")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} SET {persistence}")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("otpsite", "0002_dashboard_period"),
    ]

    operations = [
        migrations.RunPython(_alter("UNLOGGED"), _alter("LOGGED"), elidable=False),
    ]
