"""Lookups registered on every CharField (otpusers.apps)."""

from django.db.models import Lookup


class IsSet(Lookup):
    """`field__is_set=True`: the text is not empty, with the empty string written into the SQL, not passed as
    a parameter. The unique indexes on identifiers cover set identifiers only (`WHERE NOT (field = '')`);
    PostgreSQL uses such a partial index for a prepared statement's generic plan only when the query's own
    condition proves the index's, which a parameter's unknown value cannot."""

    lookup_name = "is_set"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if self.rhs is not True:
            raise ValueError("__is_set takes True; filter on field='' for the unset ones")
        lhs, parameters = self.process_lhs(compiler, connection)
        return f"NOT ({lhs} = '')", parameters
