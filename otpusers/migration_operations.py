"""Migration operations for indexes on tables that may already hold millions of rows."""

from django.db import migrations

TRIGRAM_INDEX_SQL = "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ({columns})"


class AddIndexWithoutLocking(migrations.AddIndex):
    """AddIndex that PostgreSQL builds CONCURRENTLY, so that issuing and verifying codes go on while an
    index on ten million rows is built; a plain AddIndex elsewhere (SQLite for `make run`). The migration
    that uses it sets `atomic = False`."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
        return None


def trigram_index(name: str, table: str, *columns: str) -> migrations.RunPython:
    """A pg_trgm GIN index on `lower(column)` for each column: what `col__lower__contains` compiles to
    (`LOWER(col)::text LIKE '%…%'`). PostgreSQL only: SQLite has no trigram index, and its LIKE scan of a
    demo database needs none. Kept out of the models' state, which SQLite must be able to rebuild."""
    expressions = ", ".join(f"lower({column}) gin_trgm_ops" for column in columns)

    def create(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(TRIGRAM_INDEX_SQL.format(name=name, table=table, columns=expressions))
            # Statistics on the new expressions: without them the planner guesses that `LIKE '%…%'`
            # matches one row in two hundred and walks the whole table for a page of search results.
            schema_editor.execute(f"ANALYZE {table}")

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    return migrations.RunPython(create, drop, elidable=False)
