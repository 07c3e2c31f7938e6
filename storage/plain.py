"""Plain statements: the few statements every message runs, sent straight to the driver.

A one-row INSERT or UPDATE costs SQLite a few microseconds; SQLAlchemy's execution around
it (parameter handling, result objects, events) costs ten times that, for every statement
of every message. The statements here are still written as Core constructs against the
models (names and types checked), compiled once per dialect; their parameters go through
the columns' own bind processors (so times and JSON are stored exactly as SQLAlchemy stores
them), and they run on the session's connection, inside its transaction.

What they give back is what the driver gives: plain tuples, no type processing. Use them
for statements whose results are ids, counts and text only.

On PostgreSQL they go through ``storage.pgpipe`` (prepared once per connection, many rows in
one round trip) and may be asked for ahead (``ahead``), to go with other statements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ARRAY, Boolean
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Insert
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from storage import pgpipe
from storage.pgpipe import to_dollar

# what a column's bind processor is known to leave as it is: a bool (a Boolean where the
# database has booleans of its own), an aware time in UTC (sqlmodel's UTCDateTime, which
# turns any aware time to UTC and refuses naive ones, over a DateTime with no processor)
_AS_IS_NOTHING, _AS_IS_BOOL, _AS_IS_UTC = 0, 1, 2


def _as_is(type_: Any, dialect: Dialect) -> int:
    if isinstance(type_, Boolean) and dialect.supports_native_boolean:
        return _AS_IS_BOOL
    if (
        isinstance(type_, UTCDateTime)
        and type_.impl_instance.dialect_impl(dialect).bind_processor(dialect) is None
    ):
        return _AS_IS_UTC
    return _AS_IS_NOTHING


def _array_text(values: Any) -> Any:
    """A one-dimensional list of ints, strings, times (or None) in PostgreSQL's text form of
    an array (``{1,2}``, ``{"a","b"}``): one join, where psycopg's own list dumper works in
    Python, probing the list's type and dumping element by element. Anything else (a nested
    list, another type) is left to psycopg."""
    if not isinstance(values, list):
        return values
    out: list[str] = []
    for v in values:
        if v is None:
            out.append("NULL")
        elif v.__class__ is int:
            out.append(str(v))
        elif v.__class__ is str:
            out.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif v.__class__ is datetime and v.tzinfo is not None:
            out.append('"' + v.isoformat() + '"')
        else:
            return values
    return "{" + ",".join(out) + "}"


def _then_array_text(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if process is None:
        return _array_text
    return lambda value: _array_text(process(value))


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameters in the order the SQL wants them
    positional: bool
    defaults: dict[str, Any]  # values fixed in the construct (the 1 of "count + 1")
    # each with what it leaves as it is (_AS_IS_*), not to be called for such a value
    processors: tuple[tuple[str, Callable[[Any], Any], int], ...]
    pick: Callable[[Mapping[str, Any]], Any]  # the values in SQL order, as a tuple
    # PostgreSQL: the statement in libpq's $n style, and its values in that order
    dollar: bytes | None = None
    dollar_pick: Callable[[Mapping[str, Any]], Any] | None = None
    # the place among them of the key a together statement returns first (see Plain)
    dollar_key: int | None = None

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        values = {**self.defaults, **params} if self.defaults else dict(params)
        for name, process, as_is in self.processors:
            value = values[name]
            # (most of a message's values are booleans and times already in UTC: checked
            # here, not by a call of their processor each, a tenth of the cost)
            if as_is == _AS_IS_BOOL and value.__class__ is bool:
                continue
            if as_is == _AS_IS_UTC and value.__class__ is datetime and value.tzinfo is UTC:
                continue
            values[name] = process(value)  # None too, as SQLAlchemy does (JSON: 'null')
        return values

    def args(self, params: Mapping[str, Any]) -> Any:
        values = self.values(params)
        if self.positional:
            return self.pick(values)
        return {n: values[n] for n in self.names}

    def dollar_args(self, params: Mapping[str, Any]) -> Any:
        assert self.dollar_pick is not None
        return self.dollar_pick(self.values(params))


def _picker(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Any]:
    """A function of a mapping giving the values of names in order, as a tuple."""
    if not names:
        return lambda _values: ()
    get = itemgetter(*names)
    if len(names) == 1:
        return lambda values: (get(values),)
    return get


class Plain:
    """One Core statement, compiled once per dialect, run on the driver's cursor.

    Give the statement, or a function of the dialect's name that builds it (for the
    constructs SQLite and PostgreSQL spell differently, such as ON CONFLICT).

    ``together``: an INSERT … VALUES of one row, which PostgreSQL runs as one statement for
    many rows (``pgpipe.Rows.together``). If it returns anything, its RETURNING begins with
    the parameter named ``key`` (a unique column), by which each row finds what it returned;
    what each row is given (on SQLite too) is the rest of its returned row.

    ``generic_plan``: PostgreSQL runs it with one plan made for any values, not planned again
    for each run's. For a statement whose plan does not depend on its values, but whose
    planning costs more than its run: the server then keeps planning it again, because it
    cannot tell (a list of keys passed as arrays, whose length a generic plan does not know).
    """

    __slots__ = ("_build", "_compiled", "_generic", "_key", "_together")

    def __init__(
        self,
        statement: ClauseElement | Callable[[str], ClauseElement],
        *,
        generic_plan: bool = False,
        together: bool = False,
        key: str | None = None,
    ) -> None:
        if key is not None and not together:
            raise ValueError("Plain: a key is for rows run together")
        self._build = statement
        self._compiled: dict[str, _Compiled] = {}
        self._generic = generic_plan
        self._together = together
        self._key = key

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        build = self._build
        statement = build if isinstance(build, ClauseElement) else build(dialect.name)
        if isinstance(statement, Insert) and not statement.returning_column_descriptions:
            # an INSERT that asks for nothing back gets nothing back: else PostgreSQL's
            # compiler adds a RETURNING of the table's serial key, which nobody reads
            statement = statement.inline()
        compiled: Any = statement.compile(dialect=dialect)
        positional = compiled.positiontup is not None
        # the parameters the SQL names (binds also lists anonymous ones it rendered inline)
        rendered = (
            compiled.positiontup if positional else dict.fromkeys(compiled.bind_names.values())
        )
        names = tuple(rendered)
        defaults: dict[str, Any] = {}
        processors: list[tuple[str, Callable[[Any], Any], int]] = []
        for name in names:
            bind = compiled.binds[name]
            if bind.expanding:
                raise ValueError(f"{name}: IN lists with parameters are not plain statements")
            if not bind.required:
                defaults[name] = bind.value
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if dialect.name == "postgresql" and isinstance(bind.type, ARRAY):
                # (its SQL casts it: $1::INTEGER[])
                process = _then_array_text(process)
            if process is not None:
                processors.append((name, process, _as_is(bind.type, dialect)))
        dollar: bytes | None = None
        dollar_pick = None
        dollar_key: int | None = None
        if self._key is not None and self._key not in names:
            raise ValueError(f"Plain: the key {self._key} is not a parameter of the statement")
        if dialect.name == "postgresql" and not positional:
            dollar, order = to_dollar(compiled.string)
            dollar_pick = _picker(order)
            dollar_key = order.index(self._key) if self._key is not None else None
        found = _Compiled(
            compiled.string,
            names,
            positional,
            defaults,
            tuple(processors),
            _picker(names),
            dollar,
            dollar_pick,
            dollar_key,
        )
        self._compiled[dialect.name] = found
        return found

    def takes(self, dialect: Dialect, name: str) -> bool:
        """Whether the statement has a parameter of this name."""
        return name in self._compile(dialect).names

    def execute(self, session: Session, params: Mapping[str, Any] | None = None) -> None:
        """Execute once (nothing returned)."""
        self.ahead(session, [params or {}])()

    def rows(self, session: Session, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Execute once; every row returned, as plain tuples."""
        found: list[Any] = self.ahead(session, [params or {}], every=True)()[0]
        return found

    def first(self, session: Session, params: Mapping[str, Any] | None = None) -> Any | None:
        """Execute once; the first row returned (a plain tuple) or None."""
        return self.ahead(session, [params or {}], returning=True)()[0]

    def ahead(
        self,
        session: Session,
        rows: Sequence[Mapping[str, Any]],
        *,
        returning: bool = False,
        every: bool = False,
    ) -> Callable[[], list[Any]]:
        """Execute for each of rows; the function returned gives, for each, the first row it
        returned (``returning``: a plain tuple, or None), or the list of them all (``every``),
        and an empty list when asked for neither.

        On PostgreSQL the rows are queued for the connection's next round trip (``pgpipe``),
        made when the function is called if nothing made it before: statements asked for
        ahead by several callers go together. On SQLite, where a statement is a function
        call, they run at once.
        """
        conn = session.connection()
        raw: Any = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            batch = self.pg_rows(conn.dialect, rows, returning=returning, every=every)
            return pgpipe.queue(raw, batch)
        c = self._compile(conn.dialect)
        cursor = raw.cursor()
        out: list[Any] = []
        try:
            if len(rows) > 1 and not (returning or every):
                cursor.executemany(c.sql, [c.args(r) for r in rows])
            else:
                for r in rows:
                    cursor.execute(c.sql, c.args(r))
                    if returning or every:
                        out.append(cursor.fetchall() if every else cursor.fetchone())
            if self._key is not None and returning:
                out = [None if row is None else tuple(row[1:]) for row in out]
        finally:
            cursor.close()
        return lambda: out

    def pg_rows(
        self,
        dialect: Dialect,
        rows: Sequence[Mapping[str, Any]],
        *,
        returning: bool = False,
        every: bool = False,
    ) -> pgpipe.Rows:
        """PostgreSQL: the statement with each of rows' values, for ``pgpipe``."""
        c = self._compile(dialect)
        if c.dollar is None:
            raise ValueError("pg_rows: a statement compiled for PostgreSQL only")
        key = c.dollar_key if returning else None
        return pgpipe.Rows(
            c.dollar,
            [c.dollar_args(r) for r in rows],
            returning,
            every,
            self._generic,
            self._together,
            key,
        )

    def many(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute for each of rows (nothing returned); on PostgreSQL in one round trip."""
        if rows:
            self.ahead(session, rows)()

    def many_first(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> list[Any | None]:
        """Execute for each of rows; for each, the first row it returned (or None).

        On PostgreSQL one round trip for all (``pgpipe``); on SQLite, where a statement is a
        function call, each row is one plain execute.
        """
        return self.ahead(session, rows, returning=True)() if rows else []
