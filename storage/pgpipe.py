"""PostgreSQL: many rows of statements in one round trip, straight through libpq.

psycopg's ``executemany`` costs about 30 µs of the bot's Python per row (a prepared-statement
lookup, a query converted, a cursor's results set, for every row), three times what the
same rows cost sent to libpq directly. The statements every message runs (Plain's: its row
stored, its reply queued, its mark as handled) are sent here instead: each statement
prepared once per connection, its rows dumped by psycopg's own adapters (in C), everything
in libpq's pipeline mode, one round trip for all, read by psycopg's own generators. The rows
of an INSERT marked ``together`` go as one statement of many rows (``Rows.together``): a
statement's own costs (its bind, its executor's start and end, its result, here and on the
server) are paid once for a group's 32 messages, not 32 times.

Statements may be queued ahead (``queue``): they go with the connection's next round trip,
made when one of their answers is read, when more is sent, or by ``flush`` (which may end
with the transaction's COMMIT). Database sends a group's locks, its messages stored and its
open tickets fetched in one round trip that way, and its last writes with its COMMIT.

Rows go in the session's transaction (begun here, as psycopg begins one, if none is open).
A failing statement raises the error psycopg would raise (its SQLSTATE intact, so a lost
deadlock is known as one); the statements after it, and the COMMIT, do not run.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
from loguru import logger
from psycopg import errors, pq
from psycopg.abc import PQGen
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import fetch_many
from psycopg.generators import send as send_all
from psycopg.pq.abc import PGconn, PGresult

_PARAM = re.compile(r"%\(([^)]+)\)s|%%")


def to_dollar(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """A statement compiled in psycopg's named style (``%(name)s``) in libpq's ($1, $2 ...):
    its text and the names of its parameters in their numbers' order."""
    order: dict[str, int] = {}

    def number(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return "%"
        return f"${order.setdefault(name, len(order) + 1)}"

    text = _PARAM.sub(number, sql)
    return text.encode(), tuple(order)


# each statement's name, the same on every connection; which of them each connection has
# prepared (a connection's prepared statements live as long as it does)
_names: dict[bytes, bytes] = {}
_counter = itertools.count()
_names_lock = threading.Lock()
_prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()


def _prepared_on(conn: psycopg.Connection[Any]) -> set[bytes]:
    """The statements prepared here on this connection (noticing psycopg's DEALLOCATE ALL).

    psycopg forgets its own prepared statements after a ROLLBACK (of a savepoint too), a DROP
    or an ALTER, and then deallocates all of the connection's, these too: its prepare
    manager's ``clear`` says when it will. (psycopg 3.3: pinned in pyproject.toml.)
    """
    found = _prepared.get(conn)
    if found is not None:
        return found
    ours: set[bytes] = set()
    manager: Any = conn._prepared
    clear = manager.clear

    def clear_ours_too() -> bool:
        dropping = bool(clear())
        if dropping:
            ours.clear()
        return dropping

    manager.clear = clear_ours_too
    _prepared[conn] = ours
    return ours


def _name(sql: bytes) -> bytes:
    found = _names.get(sql)
    if found is None:
        with _names_lock:
            found = _names.setdefault(sql, b"rs_%d" % next(_counter))
    return found


@dataclass(slots=True)
class Rows:
    """One statement (in libpq's $n style) and the parameters of each time it runs."""

    sql: bytes
    params: list[Sequence[Any]]
    # keep the first row each run returns (its RETURNING), as a plain tuple, or None
    returning: bool = False
    # keep every row each run returns, as a list of plain tuples (instead of the first)
    every: bool = False
    # run with the server's generic plan of the statement (see Plain's generic_plan)
    generic: bool = False
    # an INSERT … VALUES of one row, run as one statement for many rows (a power of two of
    # them, up to TOGETHER_MAX; its VALUES repeated, see _values_for): what a statement costs
    # as such (its bind, its executor, its result) is paid once for them all. With
    # ``returning``, ``key`` is the index of the row's parameter that the statement returns
    # first, by which each row finds the rest of its returned row (an INSERT … ON CONFLICT
    # DO NOTHING returns none for some rows)
    together: bool = False
    key: int | None = None

    def __post_init__(self) -> None:
        if self.together and self.every:
            raise ValueError("pgpipe: rows together return their first row by key only")


# the server plans a prepared statement for each run's values (its first five runs, and for
# as long as that plan looks cheaper than one for any values), or uses one generic plan
_GENERIC_PLAN = b"SET LOCAL plan_cache_mode = force_generic_plan"
_PLAN_AS_BEFORE = b"SET LOCAL plan_cache_mode TO DEFAULT"

# rows run together: statements of a power of two rows, at most this many (27 rows: 16, 8,
# 2 and 1). Each size is a statement prepared on every connection that runs it, and the
# server keeps its plan as long as the connection lives: a plan for 32 message rows takes
# about 340 KB of the server process's memory, every size from 1 to 64 rows 18 MB, the seven
# powers of two 1.2 MB. (And far below the protocol's 65,535 parameters.)
TOGETHER_MAX = 64
_DOLLAR = re.compile(rb"\$(\d+)")
_VALUES = b" VALUES ("
_widened: dict[tuple[bytes, int], bytes] = {}


def _values_for(sql: bytes, n: int) -> bytes:
    """An INSERT of one row (``… VALUES ($1, …, $k) …``, every parameter in its VALUES)
    with a VALUES list of n such rows, numbered on ($k+1 … $2k, and so on)."""
    found = _widened.get((sql, n))
    if found is not None:
        return found
    start = sql.find(_VALUES)
    if start < 0 or sql.find(_VALUES, start + 1) >= 0:
        raise ValueError("pgpipe: rows together need an INSERT with one VALUES list")
    depth, end = 0, -1
    for i in range(start + len(_VALUES) - 1, len(sql)):
        c = sql[i : i + 1]
        if c in (b"'", b'"'):
            raise ValueError("pgpipe: rows together: quotes in the VALUES list")
        depth += c == b"("
        depth -= c == b")"
        if depth == 0:
            end = i + 1
            break
    row = sql[start + len(_VALUES) - 1 : end]
    numbers = [int(m) for m in _DOLLAR.findall(row)]
    k = max(numbers, default=0)
    if end < 0 or not k or set(numbers) != set(range(1, k + 1)):
        raise ValueError("pgpipe: rows together need the row's parameters in its VALUES")
    if _DOLLAR.search(sql, 0, start) or _DOLLAR.search(sql, end):
        raise ValueError("pgpipe: rows together: parameters outside the VALUES list")

    def numbered(offset: int) -> bytes:
        return _DOLLAR.sub(lambda m: b"$%d" % (int(m.group(1)) + offset), row)

    rows = b", ".join(numbered(r * k) for r in range(n))
    found = _widened[(sql, n)] = sql[: start + len(_VALUES) - 1] + rows + sql[end:]
    return found


def _round_trip(
    conn: psycopg.Connection[Any], batches: Sequence[Rows], *, commit: bool = False
) -> list[list[Any]]:
    """Run the statements' rows in the connection's transaction, in order, in one round
    trip (and then ``commit`` it, if asked); for each of ``batches``, what ``Answer``
    gives. If any statement fails, the rest do not run, nor the commit."""
    pg = conn.pgconn
    with conn.lock:
        if pg.pipeline_status != pq.PipelineStatus.OFF:
            raise psycopg.ProgrammingError("pgpipe: inside a psycopg pipeline")
        tx = Transformer(conn)
        prepared = _prepared_on(conn)
        commands: list[Callable[[], None]] = []
        # what each command's result is for: ("begin"/"prepare"/"set"/"commit", name) or (batch
        # number, row)
        slots: list[tuple[Any, Any]] = []
        idle = pg.transaction_status == pq.TransactionStatus.IDLE
        # a transaction is begun for rows to run in; a COMMIT asked for with none open (its
        # rows committed by an earlier round trip) has nothing to do
        begun = idle and not conn.autocommit and any(b.params for b in batches)
        if begun:
            commands.append(partial(pg.send_query_params, conn._get_tx_start_command(), None))
            slots.append(("begin", None))
        # a transaction is open for the rows (begun above, if it was not)
        in_transaction = begun or not idle
        preparing: list[bytes] = []
        for number, batch in enumerate(batches):
            if not batch.params:
                continue
            statements, runs = _runs(number, batch)
            for name, sql in statements:
                if name not in prepared and name not in preparing:
                    commands.append(partial(pg.send_prepare, name, sql, None))
                    slots.append(("prepare", name))
                    preparing.append(name)
            # (SET LOCAL: for the transaction only, undone by its rollback too)
            generic = batch.generic and in_transaction
            if generic:
                commands.append(partial(pg.send_query_params, _GENERIC_PLAN, None))
                slots.append(("set", None))
            formats = [PyFormat.TEXT] * len(runs[0][1])
            for name, values, slot in runs:
                if len(values) != len(formats):  # (rows together: a smaller statement)
                    formats = [PyFormat.TEXT] * len(values)
                dumped = tx.dump_sequence(values, formats)
                commands.append(partial(pg.send_query_prepared, name, dumped))
                slots.append(slot)
            if generic:
                commands.append(partial(pg.send_query_params, _PLAN_AS_BEFORE, None))
                slots.append(("set", None))
        out: list[list[Any]] = [
            [None] * len(b.params) if b.returning or b.every else [] for b in batches
        ]
        if commit and in_transaction:
            commands.append(partial(pg.send_query_params, b"COMMIT", None))
            slots.append(("commit", None))
        if not slots:
            return out
        pg.enter_pipeline_mode()
        try:
            # all of it into libpq's buffer (it writes out what passes 64 KiB as it goes),
            # then sent together: psycopg's own pipeline polls and writes once per statement
            for command in commands:
                command()
            pg.pipeline_sync()
            results = conn.wait(_exchange(pg))
        finally:
            try:
                pg.exit_pipeline_mode()
            except psycopg.Error:
                # left with results unread (the exchange failed: the connection broke, say):
                # of no further use, closed so that the pool replaces it
                logger.warning("database: a connection left mid-pipeline is closed")
                conn.close()
        error: psycopg.Error | None = None
        for (what, where), got in zip(slots, results, strict=False):
            res = got[-1]
            status = res.status
            if status == pq.ExecStatus.FATAL_ERROR:
                if error is None:
                    error = errors.error_from_result(res, encoding=conn.info.encoding)
                continue
            if status == pq.ExecStatus.PIPELINE_ABORTED:
                continue
            if what == "prepare":
                prepared.add(where)
            elif isinstance(what, int) and status == pq.ExecStatus.TUPLES_OK:
                batch = batches[what]
                if isinstance(where, range):
                    if batch.returning and res.ntuples:
                        tx.set_pgresult(res)
                        _answer_by_key(out[what], batch, where, tx.load_rows(0, res.ntuples, tuple))
                elif batch.every:
                    tx.set_pgresult(res)
                    out[what][where] = tx.load_rows(0, res.ntuples, tuple)
                elif batch.returning and res.ntuples:
                    tx.set_pgresult(res)
                    out[what][where] = tx.load_row(0, tuple)
        if error is not None:
            raise error
        return out


_Run = tuple[bytes, Sequence[Any], Any]


def _runs(number: int, batch: Rows) -> tuple[list[tuple[bytes, bytes]], list[_Run]]:
    """How a batch's rows run: the statements to prepare (name, SQL), and each execution
    (its statement's name, its values, what its result is for: the batch's number, and its
    row, or the range of its rows run together, in statements of a power of two rows, the
    largest first)."""
    if not batch.together:
        name = _name(batch.sql)
        runs: list[_Run] = [
            (name, values, (number, row)) for row, values in enumerate(batch.params)
        ]
        return [(name, batch.sql)], runs
    statements: list[tuple[bytes, bytes]] = []
    runs = []
    first, left = 0, len(batch.params)
    while left:
        size = min(TOGETHER_MAX, 1 << (left.bit_length() - 1))
        sql = _values_for(batch.sql, size)
        statements.append((_name(sql), sql))
        values = [v for row in batch.params[first : first + size] for v in row]
        runs.append((statements[-1][0], values, (number, range(first, first + size))))
        first, left = first + size, left - size
    return statements, runs


def _answer_by_key(out: list[Any], batch: Rows, where: range, returned: list[Any]) -> None:
    """Each row of a together-run statement given the rest of the row returned with its key
    first (a key given twice: its first row only, as one row at a time would have it)."""
    key = batch.key
    if key is None:
        raise psycopg.ProgrammingError("pgpipe: rows together returned rows with no key given")
    by_key = {got[0]: got[1:] for got in returned}
    for row in where:
        found = by_key.pop(batch.params[row][key], None)
        if found is not None:
            out[row] = found


def _exchange(pg: PGconn) -> PQGen[list[list[PGresult]]]:
    """Send what is in libpq's buffer, then read every result up to the pipeline's sync:
    one wait for the whole round trip (psycopg's generators, which never block)."""
    yield from send_all(pg)
    results: list[list[PGresult]] = []
    while True:
        got: list[PGresult] = yield from fetch_many(pg)
        results.append(got)
        if got and got[0].status == pq.ExecStatus.PIPELINE_SYNC:
            return results


class Answer:
    """What one queued statement's rows returned, read once its round trip is made (made
    then, if not yet): for each row, the first row it returned (None where none); the list
    of all of them for a statement asking for ``every`` row; for a statement asking for
    neither, an empty list. The error that failed the round trip, raised, if one did."""

    __slots__ = ("_conn", "_error", "_rows")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._rows: list[Any] | None = None
        self._error: BaseException | None = None

    def __call__(self) -> list[Any]:
        if self._rows is None and self._error is None:
            flush(self._conn)
        if self._error is not None:
            raise self._error
        if self._rows is None:
            raise psycopg.InterfaceError(
                "pgpipe: asked for in a transaction rolled back before its round trip"
            )
        return self._rows


# per connection: the statements queued for its next round trip, with their answers
_queues: weakref.WeakKeyDictionary[Any, list[tuple[Rows, Answer]]] = weakref.WeakKeyDictionary()


def queue(conn: psycopg.Connection[Any], batch: Rows) -> Answer:
    """Have the statement's rows run with the connection's next round trip (``flush``, or
    the reading of any answer queued with them), after what was queued before them."""
    answer = Answer(conn)
    _queues.setdefault(conn, []).append((batch, answer))
    return answer


def flush(conn: psycopg.Connection[Any], *, commit: bool = False) -> None:
    """Make the round trip of what is queued on the connection, if anything (with the
    transaction's COMMIT, if asked: then even with nothing queued)."""
    queued = _queues.pop(conn, None)
    if not queued and not commit:
        return
    queued = queued or []
    try:
        got = _round_trip(conn, [batch for batch, _ in queued], commit=commit)
    except BaseException as exc:
        for _, answer in queued:
            answer._error = exc
        raise
    for (_, answer), rows in zip(queued, got, strict=True):
        answer._rows = rows


def discard(conn: psycopg.Connection[Any]) -> None:
    """Forget what is queued on the connection (its transaction is being rolled back)."""
    if conn is not None:  # (a connection closed under its pool's record has none)
        _queues.pop(conn, None)


def send(
    conn: psycopg.Connection[Any], batches: Sequence[Rows], *, commit: bool = False
) -> list[list[Any]]:
    """Run the statements' rows now, after anything queued, in one round trip (then commit
    the transaction, if asked); for each of ``batches``, what its ``Answer`` gives."""
    answers = [queue(conn, batch) for batch in batches]
    flush(conn, commit=commit)
    return [answer() for answer in answers]
