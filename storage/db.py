"""The database: one SQLAlchemy engine, sync sessions run off the event loop.

Handlers hand a plain function of a Session to ``Database.run``; it runs in a worker
thread inside one transaction (committed on return, rolled back on error). One thread
for SQLite (a single writer anyway), a small pool for PostgreSQL.

A function may have a batch form (``@batched``): when several callers queue it at once,
it runs once over all their arguments (the messages of many groups stored by one piece
of work: one executemany, not one statement per message). Other work may ask for such
calls to be made for it first (``before``: its message stored, the open tickets it is
compared with fetched), and be given their results.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from loguru import logger
from psycopg.errors import DivisionByZero
from sqlalchemy import BigInteger, Engine, bindparam, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

from storage import pgpipe
from storage.plain import Plain

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")
X = TypeVar("X")
P = ParamSpec("P")


_LATER = "storage.db.later"
_EXPECT = "storage.db.later_expect"
_HELD = "storage.db.held_locks"
# a pooled PostgreSQL connection idle this long is pinged before it is used again
PING_AFTER_IDLE_SECONDS = 2.0
# SQLite: how often the checkpointer thread copies the write-ahead log into the database
# (a pass with nothing to copy costs it a fraction of a millisecond)
CHECKPOINT_SECONDS = 0.1
# SQLite: the log size (pages of 4 KiB) at which a writer checkpoints by itself. Under a
# steady stream of commits this is what starts the log over (see Database._checkpointer);
# by then the checkpointer has copied all but the last tenth of a second's pages. The commit
# that does it holds up the messages behind it (copying the rest, two fsyncs): at full load
# (about 13,000 pages a second) 20,000 pages make that once in 1.5 s instead of every 0.3 s.
# The price is disk: the log file, reused from its start, keeps the size it reached (80 MB
# after such a peak, not 16)
AUTOCHECKPOINT_PAGES = 20_000


_NOTHING = object()
# PostgreSQL: wait for, and hold until the transaction ends, the advisory lock of a key
ADVISORY_LOCK = Plain(select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger))))


class ChangedUnderIt(Exception):
    """A write made at the end of a transaction did not find what its work had counted on
    (see ``later``'s ``expect``): the work is to be done again."""


def later(
    session: Session, statement: Plain, params: dict[str, Any], *, expect: Any = _NOTHING
) -> None:
    """Have a write done at the end of this transaction, together with the others like it.

    For the last writes of a piece of work that nothing reads back in the same transaction
    (its reply in the outbox, its message marked handled): a group's writes of one
    statement go in as one executemany before the commit. Only for work run through
    ``Database.run`` or ``Database.call``, which do them; if the work fails, its writes
    are dropped with its savepoint (or with its group's transaction).

    ``expect``: the value the statement's first returned column must have (a statement
    given one must always be given one). Work that wrote what it foresaw a write would
    give (a count of reporters in its reply) has it checked; if the write gives anything
    else, ``ChangedUnderIt`` fails the transaction, and its work runs again. On PostgreSQL
    the transaction's COMMIT goes in the same round trip as these writes, so the statement
    checks it itself: the value is its parameter ``expect``, and it divides by zero where
    its first column would differ (tickets._SECONDED_FORESEEN), which stops the commit.
    """
    pending: dict[Plain, list[dict[str, Any]]] = session.info.setdefault(_LATER, {})
    if expect is not _NOTHING:
        if not statement.takes(session.get_bind().dialect, "expect"):
            raise ValueError("later: a statement given expect must check it (its parameter)")
        params = {**params, "expect": expect}
    pending.setdefault(statement, []).append(params)
    if expect is not _NOTHING:
        expected: dict[Plain, list[Any]] = session.info.setdefault(_EXPECT, {})
        expected.setdefault(statement, []).append(expect)


def held_locks(session: Session) -> frozenset[int]:
    """The PostgreSQL advisory locks this transaction took up front (``Database.run``'s
    ``locks``): a function finds its own there and need not take it again."""
    held: frozenset[int] = session.info.get(_HELD, frozenset())
    return held


def _later_mark(session: Session) -> dict[Plain, int]:
    return {st: len(rows) for st, rows in session.info.get(_LATER, {}).items()}


def _later_undo(session: Session, mark: dict[Plain, int]) -> None:
    for key in (_LATER, _EXPECT):
        for st, rows in session.info.get(key, {}).items():
            del rows[mark.get(st, 0) :]


def _later_check(got: list[Any], want: list[Any]) -> None:
    for row, value in zip(got, want, strict=True):
        if row is None or row[0] != value:
            raise ChangedUnderIt(
                f"a write at the end of the transaction gave "
                f"{None if row is None else row[0]!r} where its work counted on {value!r}"
            )


def _finish(session: Session) -> None:
    """The transaction's writes left for its end (``later``), then its commit.

    PostgreSQL: every row of every statement (the replies, the handled marks, the 附议), with
    anything still asked for ahead, and the COMMIT, in one round trip. A statement given
    ``expect`` checks it there itself (see ``later``): the commit then never runs.
    """
    pending: dict[Plain, list[dict[str, Any]]] = session.info.pop(_LATER, {})
    expected: dict[Plain, list[Any]] = session.info.pop(_EXPECT, {})
    if session.get_bind().dialect.name != "postgresql":
        for st, rows in pending.items():
            if st in expected:
                _later_check(st.many_first(session, rows), expected[st])
            else:
                st.many(session, rows)
    elif pending or session.get_transaction() is not None:
        session.flush()  # ORM changes not flushed yet go in before the commit
        statements = list(pending)
        conn = session.connection()
        batches = [
            st.pg_rows(conn.dialect, pending[st], returning=st in expected) for st in statements
        ]
        raw: Any = conn.connection.dbapi_connection
        try:
            got = pgpipe.send(raw, batches, commit=True)
        except DivisionByZero as exc:
            raise ChangedUnderIt(f"a write at the end of the transaction: {exc}") from exc
        # committed: the server checked what was expected. Work is never run again after
        # its commit (it would be done twice): a disagreement here can only be logged
        for st, rows in zip(statements, got, strict=True):
            if st in expected:
                try:
                    _later_check(rows, expected[st])
                except ChangedUnderIt as exc:
                    logger.error("database: committed, yet {} (its statement's check?)", exc)
    session.commit()


class Batched(Generic[X, T]):
    """A function of (session, item) with a form over many items: ``many(session, items)``.

    Called as usual it runs ``one``; ``Database.run`` runs the jobs of one Batched queued
    together as a single ``many`` call, which must return one result per item, in order.
    If that call fails, each item is run on its own, so one bad item cannot fail the rest.

    ``ahead``, if given, is the many form in two steps (``many`` is then ahead's, read at
    once): it asks for its statements (``Plain.ahead``) and returns the function that reads
    their results. A group's batched calls with it ask first, all of them, then read: on
    PostgreSQL their statements go to the server together, with the group's locks, in one
    round trip.

    ``writes_only_ahead``: everything ``ahead`` writes, it asks for ahead; reading the
    results writes nothing more. A PostgreSQL group made of such calls alone sends its
    COMMIT with their statements: one round trip for the whole transaction.
    """

    def __init__(
        self,
        one: Callable[[Session, X], T],
        many: Callable[[Session, list[X]], list[T]] | None = None,
        ahead: Callable[[Session, list[X]], Callable[[], list[T]]] | None = None,
        writes_only_ahead: bool = False,
    ) -> None:
        if (many is None) == (ahead is None):
            raise ValueError("batched: give its many form, or that form in two steps")
        if writes_only_ahead and ahead is None:
            raise ValueError("batched: only a form in two steps asks for its writes ahead")
        self.one = one
        self.ahead = ahead
        self.writes_only_ahead = writes_only_ahead
        self._many = many
        self.__name__ = one.__name__
        self.__doc__ = one.__doc__

    def __call__(self, session: Session, item: X) -> T:
        return self.one(session, item)

    def many(self, session: Session, items: list[X]) -> list[T]:
        """The results over many items."""
        return self.asked(session, items)()

    def asked(self, session: Session, items: list[X]) -> Callable[[], list[T]]:
        """The many form's results, asked for ahead where it can be."""
        if self.ahead is not None:
            return self.ahead(session, items)
        assert self._many is not None
        results = self._many(session, items)
        return lambda: results


def batched(
    many: Callable[[Session, list[X]], list[T]] | None = None,
    *,
    ahead: Callable[[Session, list[X]], Callable[[], list[T]]] | None = None,
    writes_only_ahead: bool = False,
) -> Callable[[Callable[[Session, X], T]], Batched[X, T]]:
    """Give a function of (session, item) its batch form: over many items (``many``), or
    that form in two steps (``ahead``; see Batched)."""

    def wrap(one: Callable[[Session, X], T]) -> Batched[X, T]:
        return Batched(one, many, ahead, writes_only_ahead)

    return wrap


class SchemaBehind(Exception):
    """The database exists but its schema is older than this code."""


def _alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// URLs for psycopg 3; create SQLite's folder."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def make_engine(url: str) -> Engine:
    """An engine tuned for the bot: WAL and foreign keys on SQLite, pooled on PostgreSQL."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        # LIFO: the writer gets back the connection it just used, whose page cache is still
        # good, whoever borrowed one meanwhile. Handed out in turn (the pool's default), two
        # connections alternated at nearly every commit, and a connection's cache is thrown
        # away whenever another one wrote since it last read
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_use_lifo=True
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # take transaction control from the sqlite3 module so SAVEPOINTs work
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # the bot's checkpointer thread (Database) copies the log into the database
            # file; a writer does it itself only if the log has grown this large anyway
            cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)

    # A connection that sat idle in the pool may be dead (the server restarted, a firewall
    # dropped it): it is pinged before use, and replaced if the ping fails. One that was in
    # use a moment ago is not: SQLAlchemy's pool_pre_ping would cost a round trip for every
    # transaction, one in five of all the round trips a busy bot makes.
    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()
        pgpipe.discard(dbapi_conn)

    # Statements asked for ahead (pgpipe) go to the server before any other statement of
    # their transaction, and go nowhere if it is rolled back first
    @event.listens_for(engine, "before_cursor_execute")
    def _send_asked(conn: Any, *_args: Any) -> None:
        pgpipe.flush(conn.connection.dbapi_connection)

    @event.listens_for(engine, "rollback")
    def _drop_asked(conn: Any) -> None:
        if not conn.invalidated:  # (an invalidated one is closed, its queue with it)
            pgpipe.discard(conn.connection.dbapi_connection)

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            logger.info("database: a pooled connection is gone ({}); opening another", exc)
            raise DisconnectionError() from exc

    return engine


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    # PostgreSQL advisory lock keys the work takes, declared so that it may share a
    # transaction with other work (None: it runs in a transaction of its own)
    locks: tuple[int, ...] | None = None
    # batched work (each with its item) to run first, their results given to fn as its
    # last arguments, in order
    before: tuple[tuple[Batched[Any, Any], Any], ...] = ()

    @property
    def shares(self) -> bool:
        """May run in a transaction with other work on PostgreSQL."""
        return self.locks is not None or isinstance(self.fn, Batched)


Outcome = tuple[_Job, Any, BaseException | None]


def _pooled(job: _Job) -> tuple[tuple[Batched[Any, Any], Any], ...]:
    """The batched calls a job makes first (or is), each with its item."""
    if isinstance(job.fn, Batched):
        return ((job.fn, job.args[0]),)
    return job.before


def _writes_only_ahead(job: _Job) -> bool:
    """A job that is a batched call whose writes are all asked for ahead (see Batched)."""
    return isinstance(job.fn, Batched) and job.fn.writes_only_ahead and job.locks is None


def _work_alone(session: Session, job: _Job) -> Any:
    """A job's work, its ``before`` included, on its own."""
    given = [batched_fn.one(session, item) for batched_fn, item in job.before]
    return job.fn(session, *job.args, *given)


def _settle(outcomes: list[Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.done():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


def _deliver(outcomes: list[Outcome]) -> None:
    """Hand results back to their event loops: one wake-up per loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for o in outcomes:
        by_loop.setdefault(o[0].loop, []).append(o)
    for loop, some in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, some)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for this any more


# how often a job that lost a deadlock (or a serialization conflict) is tried in all
RETRIES = 3


def _lost_a_race(error: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure: the work itself was fine."""
    code = getattr(getattr(error, "orig", error), "sqlstate", None)
    return code in ("40P01", "40001")


class _Lost(Exception):
    """A group's transaction was rolled back under it (by the failure of one job)."""

    def __init__(self, job: _Job | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.job = job
        self.error = error


class Database:
    """The bot's database and the threads its sessions run in.

    Work queued while a worker is busy is run as one group, in one transaction: one
    commit for many messages. A function that may fail on its own (a command refused)
    runs in a SAVEPOINT, so its failure rolls back only its own changes; work that shares
    (@batched functions, whose calls in a group are one call made ahead of the rest, and
    work that declared its locks) runs without one, and if it fails the group is rolled
    back and each of its jobs runs again alone. On PostgreSQL only sharing work is
    grouped (see ``run``). A function may thus be run again after a rollback: it must act
    through the session only, or do what it does outside idempotently.
    """

    MAX_GROUP = 256

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._workers = 1 if self.is_sqlite else 8
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self._checkpoint: threading.Thread | None = None
        self.checkpoints = 0  # SQLite: checkpoints done by the checkpointer thread

    # --- schema -------------------------------------------------------------------------
    def head_revision(self) -> str | None:
        """The newest migration this code knows."""
        return ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()

    def current_revision(self) -> str | None:
        """The migration the database is at (None for a database without our tables)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_empty(self) -> bool:
        """True when the database has no tables at all."""
        return not inspect(self.engine).get_table_names()

    def migrate(self) -> None:
        """Apply every migration up to the newest."""
        cfg = _alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def prepare(self) -> None:
        """Create a new empty database; refuse an existing one whose schema is behind."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None and self.is_empty():
            self.migrate()
            return
        raise SchemaBehind(
            f"the database at {self.safe_url} is at schema {current or 'unknown'}, "
            f"this version needs {head}: run `python -m bot migrate` first"
        )

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    # --- work ---------------------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(session, *args) in one transaction, in this thread."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                result = fn(session, *args)
                _finish(session)
                return result
            except BaseException:
                session.rollback()
                raise

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        locks: Sequence[int] | None = None,
        before: Sequence[tuple[Batched[Any, Any], Any]] = (),
    ) -> T:
        """Run fn(session, *args) in one transaction, off the event loop.

        ``locks``: the work's PostgreSQL advisory lock keys, all of them, when it takes no
        other locks that others wait for in a different order (taking in a complaint: its
        building and category, then the ticket it seconds or the counter it numbers a new
        one from). Such work, like a @batched function, may share a transaction with other
        work: the group's keys are all taken first, in sorted order, so two groups cannot
        deadlock on them (see ``held_locks``).

        ``before``: @batched functions, each with its item, to run first in the same
        transaction; fn is called with their results as its last arguments, in order. The
        batched calls of a group's work (``before``s, and @batched functions run themselves)
        are made ahead of its other work, one call per function for all of them: the
        messages a group handles are stored by one executemany. If fn then fails in its
        savepoint, what its ``before`` did stays (a message stays stored, unhandled, for its
        next try).
        """
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(
            _Job(fn, args, loop, future, None if locks is None else tuple(locks), tuple(before))
        )
        return await future

    def _start(self) -> None:
        with self._start_lock:
            if self.is_sqlite and self._checkpoint is None:
                self._stopping.clear()
                self._checkpoint = threading.Thread(
                    target=self._checkpointer, name="db-checkpoint", daemon=True
                )
                self._checkpoint.start()
            while len(self._threads) < self._workers:
                t = threading.Thread(
                    target=self._work, name=f"db-{len(self._threads)}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _checkpointer(self) -> None:
        """SQLite: copy the write-ahead log into the database file every CHECKPOINT_SECONDS.

        A PASSIVE checkpoint waits for nobody and nobody waits for it. Left to SQLite, the
        commit that fills the log would do it, with an fsync, while the messages queued
        behind it wait (the bench's steady p99 went from 4.6 ms to 7 ms that way).

        The log starts over from its beginning only when a write begins with all of it
        copied. With messages arriving now and then that happens after most passes here;
        with commits back to back it does not, and the log grows to AUTOCHECKPOINT_PAGES,
        where the writer's own checkpoint copies what is left and the log starts over.
        Passes a tenth of a second apart leave that checkpoint little to copy: once a
        second, at full load it had 40 MB and held the writer for about 30 ms.
        """
        # a connection of its own, held while it runs: borrowed from the pool for each pass,
        # it was often the writer's, which then got another with a cold page cache
        raw: Any = None
        try:
            while not self._stopping.wait(CHECKPOINT_SECONDS):
                try:
                    if raw is None:
                        raw = self.engine.raw_connection()
                    # the connection is in autocommit (see make_engine): no BEGIN around it
                    raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except Exception:
                    logger.exception("database: checkpoint failed (the next one will try again)")
                    if raw is not None:
                        raw.invalidate()  # a new connection for the next pass
                        raw = None
        finally:
            if raw is not None:
                raw.close()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            group = [job]
            stop = False
            while len(group) < self.MAX_GROUP:
                if not self.is_sqlite and not group[-1].shares:
                    break  # PostgreSQL: work that may not share runs in its own transaction
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._run_group(group)
            if stop:
                return

    def _run_one(self, job: _Job) -> Outcome:
        for attempt in range(1, RETRIES + 1):
            try:
                return (job, self.call(_work_alone, job), None)
            except BaseException as e:
                if attempt < RETRIES and _lost_a_race(e):
                    continue
                return (job, None, e)
        raise AssertionError("not reached")

    def _run_group(self, group: list[_Job]) -> None:
        if not self.is_sqlite and len(group) > 1 and not group[-1].shares:
            # PostgreSQL, several workers and processes at once: a transaction holding the
            # row locks of several pieces of work could deadlock with another's. Batched
            # work (messages stored) and work that declared its locks share one; the rest
            # commits on its own
            self._run_group(group[:-1])
            group = group[-1:]
        # PostgreSQL: a group that only stores (messages, mostly chit-chat) commits with its
        # statements, in one round trip, whatever its size
        one_trip = not self.is_sqlite and all(_writes_only_ahead(job) for job in group)
        if len(group) == 1 and not one_trip:
            _deliver([self._run_one(group[0])])
            return
        # the batched calls of all the jobs first, one call per batched function
        pooled: dict[int, tuple[Batched[Any, Any], list[tuple[_Job, int, Any]]]] = {}
        for job in group:
            for place, (fn, item) in enumerate(_pooled(job)):
                pooled.setdefault(id(fn), (fn, []))[1].append((job, place, item))
        rest = [job for job in group if not isinstance(job.fn, Batched)]
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                if not self.is_sqlite:
                    self._lock_up_front(session, group)
                outcomes, given = self._run_pooled(session, list(pooled.values()), commit=one_trip)
                if not self.is_sqlite:
                    # the locks, if no batched call took them along, before any job runs
                    raw: Any = session.connection().connection.dbapi_connection
                    pgpipe.flush(raw)
                # one job needs no savepoint: if it fails, the fallback below runs each alone
                outcomes += self._run_jobs(session, rest, given, savepoints=len(group) > 1)
                _finish(session)
                # a job that lost a deadlock to another transaction runs again on its own,
                # now that this group's locks are released
                outcomes = [
                    self._run_one(o[0]) if o[2] is not None and _lost_a_race(o[2]) else o
                    for o in outcomes
                ]
            except _Lost as lost:
                # the transaction is gone (see _run_jobs): the failed job is answered, the
                # others run again, each on its own
                session.rollback()
                _deliver(
                    [
                        (job, None, lost.error) if job is lost.job else self._run_one(job)
                        for job in group
                    ]
                )
                return
            except Exception as e:
                # the group's commit (or its writes at the end) failed: run each on its own,
                # so one bad apple cannot fail the others
                if isinstance(e, ChangedUnderIt):
                    logger.info("database: {}; the group's {} jobs run again alone", e, len(group))
                session.rollback()
                _deliver([self._run_one(job) for job in group])
                return
        _deliver(outcomes)

    @staticmethod
    def _lock_up_front(session: Session, group: list[_Job]) -> None:
        """PostgreSQL: take the advisory locks the group's work declared, in sorted order."""
        keys = sorted({k for job in group for k in job.locks or ()})
        if not keys:
            return
        # asked for ahead: they go to the server with the group's batched calls, in one
        # round trip (or on their own, if it has none: Database._run_group sends them)
        ADVISORY_LOCK.ahead(session, [{"key": k} for k in keys])
        session.info[_HELD] = frozenset(keys)

    @staticmethod
    def _run_pooled(
        session: Session,
        pooled: list[tuple[Batched[Any, Any], list[tuple[_Job, int, Any]]]],
        commit: bool = False,
    ) -> tuple[list[Outcome], dict[int, list[Any]]]:
        """Make the group's batched calls, one per function over its (job, place, item)
        triples: the outcomes of the jobs that were such calls, and the results given to the
        others (by id of their job, each at its place in the job's ``before``).

        ``commit`` (PostgreSQL; every call ``writes_only_ahead``): the COMMIT goes with the
        statements asked for, before any is read. A read that fails after it runs its jobs
        again alone, as any failed group does: their statements find their rows written
        (store_incoming's INSERT … ON CONFLICT DO NOTHING) and change nothing.
        """
        outcomes: list[Outcome] = []
        given: dict[int, list[Any]] = {}

        def lost(jobs: list[_Job], e: Exception) -> _Lost:
            # the group is lost (see _run_jobs); the one job behind it, if one, is answered
            alone = len(pooled) == 1 and len(jobs) == 1 and not _lost_a_race(e)
            return _Lost(jobs[0] if alone else None, e)

        # every call asks for its statements first, then each reads what they gave: on
        # PostgreSQL all in one round trip, with the group's locks (_lock_up_front)
        asked = []
        for fn, pairs in pooled:
            jobs = [job for job, _, _ in pairs]
            try:
                asked.append(fn.asked(session, [item for _, _, item in pairs]))
            except Exception as e:
                raise lost(jobs, e) from e
        if commit:
            try:
                raw: Any = session.connection().connection.dbapi_connection
                pgpipe.flush(raw, commit=True)
            except Exception as e:
                raise lost([job for _, pairs in pooled for job, _, _ in pairs], e) from e
        for (fn, pairs), read in zip(pooled, asked, strict=True):
            jobs = [job for job, _, _ in pairs]
            try:
                results = read()
                if len(results) != len(pairs):
                    raise RuntimeError(
                        f"{fn.__name__}: {len(results)} results for {len(pairs)} items"
                    )
            except Exception as e:
                raise lost(jobs, e) from e
            for (job, place, _), result in zip(pairs, results, strict=True):
                if isinstance(job.fn, Batched):
                    outcomes.append((job, result, None))
                else:
                    given.setdefault(id(job), [None] * len(job.before))[place] = result
        return outcomes, given

    def _run_jobs(
        self, session: Session, jobs: list[_Job], given: dict[int, list[Any]], savepoints: bool
    ) -> list[Outcome]:
        """Run each job (``given``: the results of their ``before`` calls); when asked, a job
        that may fail on its own (a command refused, say) in its own savepoint, so that its
        failure rolls back only its own changes.

        Work that shares (intake with its locks declared) takes no savepoint: it fails so
        rarely that a savepoint's statements for every message would cost more than what
        its failure costs: the whole group rolled back and each job run again on its own
        (``_Lost``).
        """
        outcomes: list[Outcome] = []
        # SAVEPOINT sent as plain text on the driver's connection: SQLAlchemy's own nested
        # transactions (snapshots of the session's objects, a freshly compiled clause for
        # each savepoint name) cost more than the work of a message. The ORM side is kept
        # right by hand: each job's changes are flushed inside its savepoint, and after a
        # failure the session forgets every object (all flushed, or rolled back).
        raw: Any = None
        # PostgreSQL takes two statements in one round trip: the RELEASE of one job's
        # savepoint goes with the SAVEPOINT of the next
        together = not self.is_sqlite
        open_savepoint = False  # the last guarded job's, released lazily
        for job in jobs:
            guard = savepoints and not job.shares
            if guard:
                if raw is None:
                    raw = session.connection().connection.dbapi_connection
                if open_savepoint and together:
                    raw.execute("RELEASE SAVEPOINT job; SAVEPOINT job")
                else:
                    if open_savepoint:
                        raw.execute("RELEASE SAVEPOINT job")
                    raw.execute("SAVEPOINT job")
                open_savepoint = False
            mark = _later_mark(session)
            try:
                args = (*job.args, *given[id(job)]) if job.before else job.args
                result = job.fn(session, *args)
                session.flush()  # its ORM changes fail here, as its own, if at all
            except Exception as e:
                if not guard or not session.is_active:
                    # unguarded work, or a failed ORM flush (SQLAlchemy rolled back the
                    # whole transaction): the group is lost; a job that lost a race with
                    # another transaction is run again like the rest
                    raise _Lost(None if _lost_a_race(e) else job, e) from e
                _later_undo(session, mark)
                if together:
                    raw.execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                else:
                    raw.execute("ROLLBACK TO SAVEPOINT job")
                    raw.execute("RELEASE SAVEPOINT job")
                session.expunge_all()
                outcomes.append((job, None, e))
                continue
            open_savepoint = guard
            outcomes.append((job, result, None))
        if open_savepoint:
            raw.execute("RELEASE SAVEPOINT job")
        return outcomes

    def close(self) -> None:
        """Stop the worker threads and dispose of the connection pool."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)
        if self._checkpoint is not None:
            self._checkpoint.join(timeout=30)
            self._checkpoint = None
        self._threads.clear()
        self.engine.dispose()
