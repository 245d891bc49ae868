"""Migrations of the codes table stay cheap at ten million rows: no rewrite, no lock held for an index build."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_surface_column_is_added_without_rewriting_the_table_and_indexed_concurrently():
    out = io.StringIO()
    call_command("sqlmigrate", "credentials", "0006", stdout=out)
    statements = [line for line in out.getvalue().splitlines() if line.strip() and not line.startswith("--")]
    # A constant default is kept in the catalogue (PostgreSQL 11+): existing rows read it, none is rewritten.
    assert statements == [
        """ALTER TABLE "credentials_issuedcode" ADD COLUMN "surface" varchar(16) DEFAULT 'unknown' NOT NULL;""",
        'CREATE INDEX CONCURRENTLY "credentials_code_surface_time" ON "credentials_issuedcode" '
        '("surface", "created_at" DESC, "id" DESC);',
    ]
