import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_suite_runs_on_postgresql():
    # The suite's concurrency and constraint tests mean nothing on SQLite; make test never falls back.
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
