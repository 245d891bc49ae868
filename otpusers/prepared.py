"""Hot lookups compiled to SQL once per process.

Building a queryset (filter, select_related) and compiling it costs more CPU than PostgreSQL takes to run a
lookup through a unique index: for the single-object reads of the API, most of a request's time beyond the
floor. A `PreparedLookup` builds its queryset once, with stand-ins for the values that change between calls,
compiles it, and keeps the SQL, the order of its parameters and what is needed to turn a row into model
instances (select_related included). Each later call substitutes the values and runs the SQL.

`PreparedRow` does the same for a `values()` queryset whose one row is wanted as a dict (an aggregate over one
person's rows, say).

Only values that reach the SQL unchanged can be stand-ins (a string compared with `=` or through an index
expression, an integer key, a moment). The string stand-ins mix cases, so a build that lowers or uppercases a value
loses it; a lookup whose stand-ins do not all come through is refused when it is first compiled, so a
mistake shows in the tests, never as a wrong row. A value wanted lowered is passed lowered, as its own value.
"""

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql import InsertQuery, UpdateQuery


class StandInLost(Exception):
    """A value did not reach the compiled SQL as given, so it cannot be substituted."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # For each parameter of the SQL: ("value", name, adapt) for a stand-in, ("constant", value, None) otherwise.
    parameters: tuple[tuple[str, object, Callable | None], ...]
    model: type[Model]
    init_list: tuple[str, ...]
    model_slice: slice
    related_populators: tuple
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple, object], ...]

    def parameters_for(self, values: dict) -> list:
        return _substituted(self.parameters, values)


_STRING_STAND_IN = "\x1fStandIn-{index}\x1f"
_INTEGER_STAND_IN = -(2**62)
_MOMENT_STAND_IN = datetime(1001, 1, 1, tzinfo=UTC)


def _stand_ins(kinds: dict[str, type], values: dict) -> dict[str, object]:
    """A value per name that nothing else in a query could equal, of the declared kind."""
    stand_ins = {}
    for index, (name, kind) in enumerate(kinds.items()):
        if kind is str:
            stand_ins[name] = _STRING_STAND_IN.format(index=index)
        elif kind is datetime:
            stand_ins[name] = _MOMENT_STAND_IN + timedelta(days=index, microseconds=index + 1)
        else:
            stand_ins[name] = _INTEGER_STAND_IN - index
    if set(values) != set(stand_ins):
        raise TypeError(f"expected the values {sorted(stand_ins)}, got {sorted(values)}")
    return stand_ins


def _parameters(
    raw_parameters, stand_ins: dict[str, object], what: str, connection
) -> tuple[tuple[str, object, Callable | None], ...]:
    """Where each stand-in went among the compiled SQL's parameters, and how its value is adapted there (a
    backend that stores moments as text, SQLite, gets the text); refuses a build that lost a stand-in."""
    names = {}
    for name, stand_in in stand_ins.items():
        names[stand_in] = (name, None)
        if isinstance(stand_in, datetime):
            adapt = connection.ops.adapt_datetimefield_value
            if (adapted := adapt(stand_in)) != stand_in:
                names[adapted] = (name, adapt)
    parameters = []
    for parameter in raw_parameters:
        found = names.get(parameter) if isinstance(parameter, str | int | datetime) else None
        parameters.append(("value", *found) if found is not None else ("constant", parameter, None))
    found = {item for kind, item, _ in parameters if kind == "value"}
    if found != set(stand_ins):
        raise StandInLost(f"{what}: {sorted(set(stand_ins) - set(found))} did not reach the SQL")
    return tuple(parameters)


def _substituted(parameters: tuple, values: dict) -> list:
    substituted = []
    for kind, item, adapt in parameters:
        if kind == "constant":
            substituted.append(item)
        else:
            value = values[item]
            substituted.append(adapt(value) if adapt is not None and value is not None else value)
    return substituted


def _convert(row, converters, connection) -> list:
    row = list(row)
    for position, functions, expression in converters:
        value = row[position]
        for function in functions:
            value = function(value, expression, connection)
        row[position] = value
    return row


class PreparedLookup:
    """`build(shape, **values)` returns the queryset of a lookup of `model` that finds at most one row;
    `one_or_none(shape, **values)` answers what `one_or_none(build(shape, **values))` would, compiling once
    per process, database and `shape`. `shape` names whatever else the queryset's form depends on (which
    column a value is compared with, say); `kinds` types the stand-ins of `build`'s keyword arguments (str
    or int)."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], *, ordered: bool = False, **kinds: type):
        """With `ordered`, the queryset's ORDER BY is kept (the first of several rows is wanted); otherwise
        it is dropped, as one_or_none drops it, so that a unique index serves the lookup."""
        self._model = model
        self._build = build
        self._ordered = ordered
        self._kinds = kinds
        self._compiled: dict[tuple[Hashable, int, str], _Compiled] = {}
        # Per shape, whether its queryset writes (select_for_update): the router then names the database, as
        # Django's QuerySet.db does.
        self._writes: dict[Hashable, bool] = {}
        self._lock = threading.Lock()

    def statement(self, shape: Hashable = None, **values) -> tuple[str, list]:
        """The lookup's SQL and parameters, to be run inside another statement (a subquery)."""
        compiled, _ = self._compiled_for(shape, values)
        return compiled.sql, compiled.parameters_for(values)

    def one_or_none(self, shape: Hashable = None, *, ahead: "ReadAhead | None" = None, **values):
        """With `ahead` (see ahead()), its row when it was read for the same values."""
        compiled, alias = self._compiled_for(shape, values)
        connection = connections[alias]
        row = ahead.row_for(self._ahead_key(shape, values)) if ahead is not None else False
        if row is False:
            with connection.cursor() as cursor:
                cursor.execute(compiled.sql, compiled.parameters_for(values))
                row = cursor.fetchone()
        return None if row is None else self._instance(compiled, row, alias, connection)

    def ahead(self, shape: Hashable = None, **values) -> "ReadAhead":
        """This lookup as a read to be made ahead (ReadAhead), for one_or_none(shape, ahead=…, **values) to
        take its row: made for the same values, moments aside (each call works out its own "now", and a
        read a moment earlier is as good)."""
        sql, parameters = self.statement(shape, **values)
        return ReadAhead(self._ahead_key(shape, values), sql, parameters)

    def _ahead_key(self, shape, values: dict) -> tuple:
        return (id(self), shape, *sorted((k, v) for k, v in values.items() if not isinstance(v, datetime)))

    def first(self, shape: Hashable, count: int, **values) -> list:
        """The first `count` rows of an ordered lookup, as `list(build(shape, **values)[:count])` would
        answer them; compiled once per `count` as well."""
        if not self._ordered:
            raise TypeError("first() is for an ordered lookup")
        compiled, alias = self._compiled_for(shape, values, count)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.parameters_for(values))
            rows = cursor.fetchall()
        return [self._instance(compiled, row, alias, connection) for row in rows]

    @staticmethod
    def _instance(compiled: _Compiled, row, alias: str, connection):
        if compiled.converters:
            row = _convert(row, compiled.converters, connection)
        instance = compiled.model.from_db(alias, compiled.init_list, row[compiled.model_slice])
        for populator in compiled.related_populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        return instance

    def _compiled_for(self, shape, values, rows: int = 1) -> tuple[_Compiled, str]:
        writes = self._writes.get(shape)
        if writes is not None:
            alias = (router.db_for_write if writes else router.db_for_read)(self._model)
            compiled = self._compiled.get((shape, rows, alias))
            if compiled is not None:
                return compiled, alias
        return self._compile(shape, values, rows)

    def _compile(self, shape, values, rows: int) -> tuple[_Compiled, str]:
        stand_ins = _stand_ins(self._kinds, values)
        queryset = self._build(shape, **stand_ins)
        queryset = (queryset if self._ordered else queryset.order_by())[:rows]
        alias = queryset.db
        compiler = queryset.query.get_compiler(using=alias)
        sql, raw_parameters = compiler.as_sql()
        parameters = _parameters(raw_parameters, stand_ins, self._model.__name__, connections[alias])
        select, klass_info = compiler.select, compiler.klass_info
        select_fields = klass_info["select_fields"]
        model_slice = slice(select_fields[0], select_fields[-1] + 1)
        converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
        compiled = _Compiled(
            sql=sql,
            parameters=parameters,
            model=klass_info["model"],
            init_list=tuple(column[0].target.attname for column in select[model_slice]),
            model_slice=model_slice,
            related_populators=tuple(get_related_populators(klass_info, select, alias)),
            annotations=tuple((compiler.annotation_col_map or {}).items()),
            converters=tuple(
                (position, tuple(functions), expression) for position, (functions, expression) in converters.items()
            ),
        )
        with self._lock:
            self._compiled[(shape, rows, alias)] = compiled
            self._writes[shape] = queryset._for_write
        return compiled, alias


@dataclass(frozen=True)
class _CompiledRow:
    sql: str
    parameters: tuple[tuple[str, object, Callable | None], ...]
    names: tuple[str, ...]
    converters: tuple[tuple[int, tuple, object], ...]

    def parameters_for(self, values: dict) -> list:
        return _substituted(self.parameters, values)


class PreparedRow:
    """`build(shape, **values)` returns a `values()` queryset of which the first row is wanted; `fetch(shape,
    **values)` answers that row as a dict of its names (None without a row), as iterating the queryset would,
    compiling once per process and `shape`. It runs on the router's write database: such a row decides a
    write (a limit, say), inside the transaction that holds the lock it depends on."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], **kinds: type):
        self._model = model
        self._build = build
        self._kinds = kinds
        self._compiled: dict[tuple[Hashable, str], _CompiledRow] = {}
        self._lock = threading.Lock()

    def fetch(self, shape: Hashable = None, **values) -> dict | None:
        alias = router.db_for_write(self._model)
        compiled = self._compiled.get((shape, alias)) or self._compile(shape, values, alias)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.parameters_for(values))
            row = cursor.fetchone()
        if row is None:
            return None
        if compiled.converters:
            row = _convert(row, compiled.converters, connection)
        return dict(zip(compiled.names, row, strict=True))

    def _compile(self, shape, values, alias) -> _CompiledRow:
        stand_ins = _stand_ins(self._kinds, values)
        queryset = self._build(shape, **stand_ins)[:1]
        query = queryset.query
        compiler = query.get_compiler(using=alias)
        sql, raw_parameters = compiler.as_sql()
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        if len(names) != compiler.col_count:
            raise TypeError(f"{self._model.__name__}: build a values() queryset, naming each column")
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        compiled = _CompiledRow(
            sql=sql,
            parameters=_parameters(raw_parameters, stand_ins, self._model.__name__, connections[alias]),
            names=names,
            converters=tuple(
                (position, tuple(functions), expression) for position, (functions, expression) in converters.items()
            ),
        )
        with self._lock:
            self._compiled[(shape, alias)] = compiled
        return compiled


class PreparedInsert:
    """`save(instance)` inserts a new row of `model` as `instance.save(force_insert=True)` would, with the
    INSERT composed once per process and database: for rows written on hot paths (audit events, issued
    codes), where save()'s machinery costs more CPU than PostgreSQL takes to run the statement. The values are
    prepared as Django prepares them (pre_save, then get_db_prep_save); the database's returned columns (the
    primary key) are set on the instance. No pre_save or post_save signal is sent: nothing listens for these
    models."""

    def __init__(self, model: type[Model]):
        self._model = model
        meta = model._meta
        self._fields = tuple(field for field in meta.local_concrete_fields if not field.generated)
        self._fields = tuple(field for field in self._fields if field is not meta.auto_field)
        self._returning = tuple(meta.db_returning_fields)
        self._compiled: dict[str, tuple[str, tuple, object]] = {}
        self._statements: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def save(self, instance: Model) -> Model:
        if instance.pk is not None or not isinstance(instance, self._model):
            raise TypeError(f"a new {self._model.__name__} is inserted, without a primary key")
        alias = router.db_for_write(self._model, instance=instance)
        compiled = self._compiled.get(alias) or self._compile(alias, instance)
        sql, returning_parameters, compiler = compiled
        parameters = [compiler.prepare_value(field, compiler.pre_save_val(field, instance)) for field in self._fields]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [*parameters, *returning_parameters])
            returned = cursor.fetchone() if self._returning else ()
        return self.saved(instance, returned)

    def saved(self, instance: Model, returned: tuple) -> Model:
        """`instance` as written, given the columns its INSERT returned (statement() composed into another)."""
        for field, value in zip(self._returning, returned, strict=True):
            setattr(instance, field.attname, value)
        instance._state.adding = False
        instance._state.db = router.db_for_write(self._model, instance=instance)
        return instance

    def save_many(self, instances: list[Model]) -> list[Model]:
        """save() for several new rows in one INSERT: atomic on its own, so no transaction is opened for it (as
        bulk_create would)."""
        if not instances:
            return instances
        first = instances[0]
        if any(instance.pk is not None or not isinstance(instance, self._model) for instance in instances):
            raise TypeError(f"new {self._model.__name__} rows are inserted, without a primary key")
        alias = router.db_for_write(self._model, instance=first)
        sql, returning_parameters, compiler = self._compiled.get(alias) or self._compile(alias, first)
        head, values_and_rest = sql.split(" VALUES ", 1)
        row, rest = values_and_rest.split(")", 1)
        sql = f"{head} VALUES {', '.join([row + ')'] * len(instances))}{rest}"
        parameters = [
            compiler.prepare_value(field, compiler.pre_save_val(field, instance))
            for instance in instances
            for field in self._fields
        ]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [*parameters, *returning_parameters])
            returned = cursor.fetchall() if self._returning else [()] * len(instances)
        for instance, values in zip(instances, returned, strict=True):
            self.saved(instance, values)
        return instances

    def statement(self, instance: Model, *, only_if: str = "TRUE") -> tuple[str, list]:
        """The INSERT of `instance` as SQL and parameters, to be one part of another statement (a
        data-modifying CTE): `INSERT … SELECT … WHERE only_if RETURNING <primary key>`, so the row is written
        only when `only_if` (SQL without parameters) holds. Each value is cast to its column's type, as
        VALUES would have typed it. PostgreSQL only."""
        if instance.pk is not None or not isinstance(instance, self._model):
            raise TypeError(f"a new {self._model.__name__} is inserted, without a primary key")
        alias = router.db_for_write(self._model, instance=instance)
        _, _, compiler = self._compiled.get(alias) or self._compile(alias, instance)
        key = (alias, only_if)
        sql = self._statements.get(key)
        if sql is None:
            connection = connections[alias]
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field in self._fields)
            values = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in self._fields)
            returning = ", ".join(quote(field.column) for field in self._returning)
            sql = f"INSERT INTO {quote(self._model._meta.db_table)} ({columns}) SELECT {values} WHERE {only_if}" + (
                f" RETURNING {returning}" if returning else ""
            )
            with self._lock:
                self._statements[key] = sql
        values = [compiler.prepare_value(field, compiler.pre_save_val(field, instance)) for field in self._fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            raise TypeError(f"{self._model.__name__}: statement() takes values, not expressions (a db_default unset?)")
        return sql, values

    def _compile(self, alias: str, instance: Model) -> tuple[str, tuple, object]:
        query = InsertQuery(self._model)
        query.insert_values(self._fields, [instance])
        compiler = query.get_compiler(using=alias)
        compiler.returning_fields = list(self._returning)
        [(sql, parameters)] = compiler.as_sql()
        returning_parameters = tuple(getattr(compiler, "returning_params", ()) or ())
        if len(parameters) != len(self._fields) + len(returning_parameters):
            raise TypeError(f"{self._model.__name__}: the INSERT does not take one parameter per field")
        if self._returning and not connections[alias].features.can_return_columns_from_insert:
            raise TypeError(f"{alias}: the database cannot return the inserted row's columns")
        compiled = (sql, returning_parameters, compiler)
        with self._lock:
            self._compiled[alias] = compiled
        return compiled


class PreparedUpdate:
    """`run(shape, **values)` does what `queryset.update(**changes)` does for `build(shape, **values)` →
    (queryset, changes), compiled once per process, database and shape; answers the rows changed. A moment
    value may be None (its column set to NULL)."""

    def __init__(self, model: type[Model], build: Callable[..., tuple[QuerySet, dict]], **kinds: type):
        self._model = model
        self._build = build
        self._kinds = kinds
        self._compiled: dict[tuple[Hashable, str], tuple[str, tuple]] = {}
        self._lock = threading.Lock()

    def run(self, shape: Hashable = None, **values) -> int:
        sql, parameters = self.statement(shape, **values)
        with connections[router.db_for_write(self._model)].cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.rowcount

    def statement(self, shape: Hashable = None, **values) -> tuple[str, list]:
        """The UPDATE's SQL and parameters, to be one part of another statement (a data-modifying CTE)."""
        alias = router.db_for_write(self._model)
        sql, parameters = self._compiled.get((shape, alias)) or self._compile(shape, values, alias)
        return sql, _substituted(parameters, values)

    def _compile(self, shape, values, alias) -> tuple[str, tuple]:
        stand_ins = _stand_ins(self._kinds, values)
        queryset, changes = self._build(shape, **stand_ins)
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        sql, raw_parameters = query.get_compiler(using=alias).as_sql()
        compiled = (sql, _parameters(raw_parameters, stand_ins, self._model.__name__, connections[alias]))
        with self._lock:
            self._compiled[(shape, alias)] = compiled
        return compiled


@dataclass
class ReadAhead:
    """A read a service will make, made ahead inside another statement that runs anyway (the client limits'
    in otpsite.limits): its SQL and parameters, the inputs it was made for (`key`), and, once it ran, the row
    it found (None without a row). The service uses the row only for the same inputs; otherwise it reads
    itself."""

    key: tuple
    sql: str
    parameters: list
    ran: bool = False
    row: tuple | None = None

    def row_for(self, key: tuple) -> tuple | None | bool:
        """The row read ahead for `key` (None when there was none); False when nothing was read for it."""
        return self.row if self.ran and self.key == key else False
