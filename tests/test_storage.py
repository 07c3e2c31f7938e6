"""Storage: one transaction per piece of work, grouped commits that keep failures apart."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import bindparam, create_engine, event, insert, text
from sqlmodel import Session, col, func, select

from storage import Database, pgpipe
from storage.db import Batched, _Job, batched, held_locks
from storage.models import Counter, Message, Person
from storage.plain import Plain
from storage.tickets import (
    _MESSAGE_INSERT,
    _PERSON_INSERT,
    Alike,
    IntakeKey,
    NewMessage,
    StoredMessage,
    alike_of,
    intake_lock_key,
    mark_handled_later,
    next_number,
    store_incoming,
    store_message,
)
from tests.harness import postgres_schema

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> Database:
    d = Database(db_url)
    d.prepare()
    yield d  # type: ignore[misc]
    d.close()


def _person(session: Session, pid: str) -> None:
    session.add(Person(id=pid, name=pid, created_at=NOW))


def _fail_after_person(session: Session, pid: str) -> None:
    session.add(Person(id=pid, name=pid, created_at=NOW))
    session.flush()
    raise RuntimeError("handler bug")


async def test_grouped_work_commits_together_and_a_failure_stays_alone(db: Database) -> None:
    jobs = []
    for i in range(40):
        fn = _fail_after_person if i == 17 else _person
        jobs.append(db.run(fn, f"p{i}"))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and "handler bug" in str(errors[0])
    ids = await db.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
    assert "p17" not in ids and len(ids) == 39


async def test_a_message_is_stored_once(db: Database) -> None:
    def store(session: Session) -> tuple[int, bool, bool]:
        r = store_message(
            session,
            channel_message_id="x1",
            room_id="r",
            sender_id="s",
            sender_name="s",
            text="t",
            time=NOW,
            now=NOW,
        )
        return r.id, r.duplicate, r.handled

    first = await db.run(store)
    again = await db.run(store)
    assert first[1:] == (False, False)
    assert again == (first[0], True, False)
    assert await db.run(lambda s: s.exec(select(func.count()).select_from(Message)).one()) == 1


def _message(cid: str, *, sender: str = "s", intent: str | None = None) -> NewMessage:
    """A message to store: to be handled, or (with an intent) chit-chat stored as handled."""
    return NewMessage(
        channel_message_id=cid,
        room_id="r",
        sender_id=sender,
        sender_name=sender,
        text="收到" if intent else "电梯坏了",
        time=NOW,
        received_at=NOW,
        intent=intent,
    )


async def test_plain_statements_answer_alike_for_one_row_and_many(db: Database) -> None:
    # one row is a plain execute, several one executemany (PostgreSQL): same answers
    def insert(session: Session, cids: list[str]) -> list[Any]:
        found = _MESSAGE_INSERT.many_first(session, [_message(c).row() for c in cids])
        return [None if r is None else int(r[0]) for r in found]

    (one,) = await db.run(insert, ["m1"])
    assert one is not None
    assert await db.run(insert, ["m1"]) == [None]  # there already: ON CONFLICT, no row
    again = await db.run(insert, ["m1", "m2", "m3"])
    assert again[0] is None and None not in again[1:] and len(set(again[1:])) == 2

    def people(session: Session, ids: list[str]) -> list[str]:
        _PERSON_INSERT.many(
            session, [{"id": p, "name": p, "created_at": NOW, "erased": False} for p in ids]
        )
        return sorted(p.id for p in session.exec(select(Person)))

    assert await db.run(people, ["a"]) == ["a"]
    assert await db.run(people, ["a"]) == ["a"]
    assert await db.run(people, ["a", "b", "c"]) == ["a", "b", "c"]
    stored = await db.run(lambda s: sorted(m.channel_message_id for m in s.exec(select(Message))))
    assert stored == ["m1", "m2", "m3"]


async def test_ticket_numbers_are_unique_under_concurrency(db: Database) -> None:
    numbers = await asyncio.gather(*(db.run(next_number, 1001) for _ in range(60)))
    assert sorted(numbers) == list(range(1001, 1061))
    assert await db.run(lambda s: s.get(Counter, "ticket").value) == 1060


def test_ticket_numbers_are_unique_across_threads(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    d = Database(db_url)
    d.prepare()
    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(lambda _: d.call(next_number, 1), range(80)))
    d.close()
    assert sorted(numbers) == list(range(1, 81))


async def test_a_job_that_loses_a_deadlock_runs_again(db: Database) -> None:
    """Two pieces of work lock two rows in opposite orders: the one PostgreSQL picks as the
    deadlock's victim runs again (on SQLite the one writer never deadlocks; trivially fine)."""
    import threading

    from sqlalchemy import text

    await db.run(lambda s: (_person(s, "a"), _person(s, "b")))
    met = threading.Barrier(2)
    tries = {"x": 0, "y": 0}

    x_started = threading.Event()

    def both(session: Session, first: str, second: str, tag: str) -> str:
        tries[tag] += 1
        if tag == "x":
            x_started.set()
        session.execute(text("UPDATE person SET name = name || '+' WHERE id = :i"), {"i": first})
        if tries[tag] == 1 and not db.is_sqlite:
            met.wait(timeout=10)  # both hold their first row: the second lock closes the cycle
        session.execute(text("UPDATE person SET name = name || '+' WHERE id = :i"), {"i": second})
        return tag

    async def later() -> str:
        # queued once x is running, so it is its own group, on another worker (however slow
        # the machine is)
        await asyncio.to_thread(x_started.wait, 10)
        return await db.run(both, "b", "a", "y")

    assert await asyncio.gather(db.run(both, "a", "b", "x"), later()) == ["x", "y"]
    names = await db.run(lambda s: sorted(p.name for p in s.exec(select(Person))))
    assert names == ["a++", "b++"]
    if db.is_sqlite:
        assert sum(tries.values()) == 2
    else:
        # usually one victim; when both waits time out together, PostgreSQL's two deadlock
        # checks can each find the cycle before either side has let go, and both run again
        assert sum(tries.values()) in (3, 4)


def _job(
    db: Database,
    fn: Any,
    *args: Any,
    locks: tuple[int, ...] | None = None,
    before: tuple[Batched[Any, Any], Any] | None = None,
) -> _Job:
    loop = asyncio.get_running_loop()
    return _Job(fn, args, loop, loop.create_future(), locks, () if before is None else (before,))


async def test_a_group_stores_its_messages_by_one_call_ahead_of_its_work(db: Database) -> None:
    """The messages of a group, stored for themselves (chit-chat) or before their handling
    (a complaint's ``before``), go in by one batched call, made before any other work;
    each handling gets its own message's outcome."""
    calls: list[list[str]] = []
    seen: list[tuple[str, int, bool]] = []

    def many(session: Session, msgs: list[NewMessage]) -> list[StoredMessage]:
        calls.append([m.channel_message_id for m in msgs])
        return store_incoming.many(session, msgs)

    @batched(many)
    def store_recorded(session: Session, msg: NewMessage) -> StoredMessage:
        return many(session, [msg])[0]

    def handle(session: Session, tag: str, stored: StoredMessage) -> str:
        seen.append((tag, stored.id, stored.duplicate))
        return tag

    group = [
        _job(db, store_recorded, _message("chat-1", intent="none")),
        _job(db, handle, "complaint-1", locks=(), before=(store_recorded, _message("c-1"))),
        _job(db, _person, "someone", locks=()),
        _job(db, handle, "complaint-2", locks=(), before=(store_recorded, _message("c-2"))),
        _job(
            db, store_recorded, _message("chat-1", intent="none")
        ),  # the channel's replay, in the same group
    ]
    await asyncio.to_thread(db._run_group, group)
    results = await asyncio.gather(*(job.future for job in group))
    assert calls == [["chat-1", "c-1", "c-2", "chat-1"]]  # one call, in queue order
    assert results[1] == "complaint-1" and results[3] == "complaint-2" and results[2] is None
    assert [r.duplicate for r in (results[0], results[4])] == [False, True]
    assert results[0].id == results[4].id
    ids = await db.run(
        lambda s: {m.channel_message_id: (m.id, m.handled) for m in s.exec(select(Message))}
    )
    assert ids == {
        "chat-1": (results[0].id, True),
        "c-1": (ids["c-1"][0], False),
        "c-2": (ids["c-2"][0], False),
    }
    assert seen == [("complaint-1", ids["c-1"][0], False), ("complaint-2", ids["c-2"][0], False)]


async def test_a_failed_batched_call_runs_each_job_again_alone(db: Database) -> None:
    """If the group's batched call fails, nothing of the group stays: every job runs again on
    its own, its ``before`` with it, and only the one whose item is bad fails."""

    def many(session: Session, msgs: list[NewMessage]) -> list[StoredMessage]:
        if any(m.text == "boom" for m in msgs):
            raise ValueError("a bad message")
        return store_incoming.many(session, msgs)

    @batched(many)
    def store_or_fail(session: Session, msg: NewMessage) -> StoredMessage:
        return many(session, [msg])[0]

    def handle(session: Session, pid: str, stored: StoredMessage) -> int:
        _person(session, pid)
        return stored.id

    bad = dataclasses.replace(_message("bad"), text="boom")
    group = [
        _job(db, handle, "p-1", locks=(), before=(store_or_fail, _message("ok-1"))),
        _job(db, handle, "p-2", locks=(), before=(store_or_fail, bad)),
        _job(db, store_or_fail, _message("ok-2", intent="none")),
    ]
    await asyncio.to_thread(db._run_group, group)
    results = await asyncio.gather(*(job.future for job in group), return_exceptions=True)
    assert isinstance(results[1], ValueError)
    assert isinstance(results[0], int) and results[2].duplicate is False
    stored = await db.run(lambda s: sorted(m.channel_message_id for m in s.exec(select(Message))))
    people = await db.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
    assert stored == ["ok-1", "ok-2"]
    assert "p-1" in people and "p-2" not in people


@contextlib.asynccontextmanager
async def _postgres_database() -> AsyncIterator[Database]:
    async with postgres_schema() as url:
        d = Database(url)
        d.prepare()
        try:
            yield d
        finally:
            d.close()


async def _run_groups_at_once(d: Database, *groups: list[_Job]) -> list[Any]:
    """Run groups in worker threads side by side; every job's result, in order."""
    await asyncio.gather(*(asyncio.to_thread(d._run_group, g) for g in groups))
    return [await job.future for g in groups for job in g]


async def test_shared_work_that_fails_loses_only_its_own_result(db: Database) -> None:
    """Work that shares a transaction takes no savepoint: when one piece fails, the group is
    rolled back and each of the others runs again on its own, so none is lost or done twice."""
    msgs = [_message(f"chat-{i}", sender=f"s{i}", intent="none") for i in range(3)]
    group = [
        _job(db, store_incoming, msgs[0]),
        _job(db, _person, "ok-1", locks=()),
        _job(db, store_incoming, msgs[1]),
        _job(db, _fail_after_person, "bad", locks=()),
        _job(db, _person, "ok-2", locks=()),
        _job(db, store_incoming, msgs[2]),
    ]
    assert all(job.shares for job in group)
    await asyncio.to_thread(db._run_group, group)
    results = await asyncio.gather(*(job.future for job in group), return_exceptions=True)
    assert isinstance(results[3], RuntimeError) and "handler bug" in str(results[3])
    assert [results[i].duplicate for i in (0, 2, 5)] == [False] * 3  # each stored, once
    people = await db.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
    assert people == ["ok-1", "ok-2", "s0", "s1", "s2"]
    count = await db.run(lambda s: s.exec(select(func.count()).select_from(Message)).one())
    assert count == 3


async def test_savepoints_guard_only_work_that_may_fail_on_its_own(sqlite_url: str) -> None:
    """SQLite groups everything: a command-like job (no locks declared) that fails rolls
    back to its own savepoint, whatever shared work ran before and after it."""
    d = Database(sqlite_url)
    d.prepare()
    try:
        group = [
            _job(d, _person, "shared-1", locks=()),
            _job(d, _person, "own-1"),
            _job(d, _person, "shared-2", locks=()),  # runs inside own-1's savepoint
            _job(d, _fail_after_person, "own-bad"),
            _job(d, _person, "shared-3", locks=()),
            _job(d, _person, "own-2"),
        ]
        await asyncio.to_thread(d._run_group, group)
        results = await asyncio.gather(*(job.future for job in group), return_exceptions=True)
        assert [isinstance(r, RuntimeError) for r in results] == [False] * 3 + [True] + [False] * 2
        people = await d.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
        assert people == ["own-1", "own-2", "shared-1", "shared-2", "shared-3"]
    finally:
        d.close()


@pytest.mark.postgres
async def test_groups_take_their_declared_locks_up_front_in_order() -> None:
    """Two groups of intake-like work need the same two advisory locks in opposite orders.
    Taken one by one inside the work they would deadlock (and one group would run again);
    taken up front in sorted order, one group waits for the other and nothing runs twice."""
    async with _postgres_database() as d:
        k1, k2 = intake_lock_key(1, "电梯"), intake_lock_key(2, "电梯")
        tries: list[int] = []
        seen: list[frozenset[int]] = []

        def intake_like(session: Session, key: int) -> int:
            tries.append(key)
            seen.append(held_locks(session))
            if key not in held_locks(session):  # as lock_intake does
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            time.sleep(0.3)  # the other group is running meanwhile
            return key

        first = [_job(d, intake_like, k, locks=(k,)) for k in (k1, k2)]
        second = [_job(d, intake_like, k, locks=(k,)) for k in (k2, k1)]
        assert await _run_groups_at_once(d, first, second) == [k1, k2, k2, k1]
        assert len(tries) == 4  # no deadlock, so no job ran again
        assert all(s == frozenset({k1, k2}) for s in seen)


@pytest.mark.postgres
async def test_a_group_that_loses_a_deadlock_runs_each_job_again() -> None:
    """Shared work that takes a lock it did not declare can still deadlock with another
    group: PostgreSQL rolls back one group, and each of its jobs runs again on its own."""
    async with _postgres_database() as d:
        k1, k2 = intake_lock_key(1, "噪音"), intake_lock_key(2, "噪音")
        tries: list[int] = []
        met = threading.Barrier(2)

        def undeclared(session: Session, key: int) -> int:
            first_jobs = len(tries) < 2  # the two groups' first jobs, run at once
            tries.append(key)
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            if first_jobs:
                met.wait(timeout=10)  # both hold one lock: the second ones close the cycle
            return key

        first = [_job(d, undeclared, k, locks=()) for k in (k1, k2)]
        second = [_job(d, undeclared, k, locks=()) for k in (k2, k1)]
        assert await _run_groups_at_once(d, first, second) == [k1, k2, k2, k1]
        # the victim group's two jobs ran again, each alone (both groups, when both
        # deadlock checks find the cycle before either side lets go)
        assert len(tries) in (6, 8)


@pytest.mark.postgres
async def test_work_goes_on_after_the_server_drops_idle_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pooled connection that sat idle is pinged before use, and replaced when dead; a
    busy one is not pinged (that round trip would be paid by every transaction)."""
    async with postgres_schema() as url:
        await _server_drops_idle_connections(url, monkeypatch)


async def _server_drops_idle_connections(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.db as storage_db

    monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 0.2)
    d = Database(db_url)
    d.prepare()
    pids: list[int] = []
    event.listen(d.engine, "connect", lambda c, _r: pids.append(c.info.backend_pid))
    try:
        pings: list[object] = []
        real_ping = d.engine.dialect.do_ping

        def ping(conn: object) -> bool:
            pings.append(conn)
            return real_ping(conn)

        monkeypatch.setattr(d.engine.dialect, "do_ping", ping)
        await d.run(_person, "a")
        for i in range(5):  # back to back: the connection is not idle, so not pinged
            await d.run(_person, f"busy-{i}")
        assert pings == []
        # the server ends the bot's sessions (a restart, a dropped link)
        killer = create_engine(storage_db.normalise_url(db_url))
        with killer.connect() as conn:
            for pid in pids:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        killer.dispose()
        await asyncio.sleep(0.3)
        await d.run(_person, "b")  # the dead connection is pinged, dropped, replaced
        assert pings
        count = await d.run(lambda s: s.exec(select(func.count()).select_from(Person)).one())
        assert count == 7
    finally:
        d.close()


def _lighting_ticket(session: Session, building: int | None, community: int | None) -> int:
    """An open lighting ticket reported by r1 (who must exist): its id."""
    from storage.tickets import create_ticket

    t = create_ticket(
        session,
        first_number=1,
        category="lighting",
        urgent=False,
        summary="楼道灯坏了",
        location=None,
        building_id=building,
        community_id=community,
        room_id=None,
        reporter_id="r1",
        message_id=None,
        now=NOW,
    )
    assert t.id is not None
    return t.id


async def test_seconding_counts_once_per_person_and_logs_the_count(db: Database) -> None:
    """add_reporter (one statement on PostgreSQL, three on SQLite): the same person twice
    counts once; the count turns the ticket major at the threshold; each 附议 is logged."""
    from storage.models import Ticket, TicketEvent, TicketReporter
    from storage.tickets import add_reporter

    def setup(session: Session) -> int:
        for pid in ("r1", "r2", "r3"):
            _person(session, pid)
        return _lighting_ticket(session, None, None)

    tid = await db.run(setup)
    later = NOW + timedelta(minutes=5)
    counts = [
        await db.run(lambda s, p=p: add_reporter(s, tid, p, None, later, 3))
        for p in ("r2", "r2", "r3")
    ]
    assert counts == [2, None, 3]

    def read(session: Session) -> tuple[Ticket, list[TicketEvent], int]:
        t = session.get(Ticket, tid)
        assert t is not None
        events = list(
            session.exec(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == tid, TicketEvent.kind == "seconded")
                .order_by(col(TicketEvent.id))
            )
        )
        reporters = session.exec(
            select(func.count()).select_from(TicketReporter).where(TicketReporter.ticket_id == tid)
        ).one()
        return t, events, reporters

    t, events, reporters = await db.run(read)
    assert (t.reporters_count, t.major, reporters) == (3, True, 3)
    assert t.updated_at == later
    assert [(e.actor_id, e.time, e.data) for e in events] == [
        ("r2", later, {"reporters": 2}),
        ("r3", later, {"reporters": 3}),
    ]


async def _building_with_ticket(db: Database) -> tuple[int, int]:
    """A building with one open lighting ticket reported by r1: (building id, ticket id)."""
    from storage.models import Building, Community, Compound

    def setup(session: Session) -> tuple[int, int]:
        for pid in ("r1", "r2", "r3", "r4"):
            _person(session, pid)
        community = Community(name="阳光社区", street="街道", district="区")
        session.add(community)
        session.flush()
        assert community.id is not None
        compound = Compound(community_id=community.id, name="阳光小区")
        session.add(compound)
        session.flush()
        assert compound.id is not None
        building = Building(compound_id=compound.id, community_id=community.id, name="3号楼")
        session.add(building)
        session.flush()
        assert building.id is not None
        return building.id, _lighting_ticket(session, building.id, community.id)

    return await db.run(setup)


def _seconding_job(
    db: Database, tries: list[str], building: int, person: str, at: datetime
) -> _Job:
    """Intake's seconding as a group runs it: its intake lock declared, its view of the
    open tickets asked for ahead (alike_of), the first candidate seconded through it."""
    from storage.tickets import IntakeKey, alike_now, alike_of, intake_lock_key

    key = IntakeKey(building, "lighting", NOW - timedelta(hours=1), person)

    def second(session: Session, ahead: Alike | None) -> tuple[int | None, bool]:
        tries.append(person)
        alike = ahead or alike_now(session, key)
        (ticket,) = alike.candidates(key.since)
        count = alike.second(session, ticket, person, None, at, 10)
        return count, alike.deferred

    return _job(db, second, locks=(intake_lock_key(building, "lighting"),), before=(alike_of, key))


async def _seconding_read(db: Database, tid: int) -> tuple[int, set[str], list[Any]]:
    from storage.models import Ticket, TicketEvent, TicketReporter

    def read(session: Session) -> tuple[int, set[str], list[Any]]:
        t = session.get(Ticket, tid)
        assert t is not None
        people = session.exec(
            select(TicketReporter.person_id).where(TicketReporter.ticket_id == tid)
        )
        events = session.exec(
            select(TicketEvent.actor_id, TicketEvent.data)
            .where(TicketEvent.ticket_id == tid, TicketEvent.kind == "seconded")
            .order_by(col(TicketEvent.id))
        )
        return t.reporters_count, set(people), [tuple(e) for e in events]

    return await db.run(read)


async def test_complaints_of_one_group_see_each_others_seconding(db: Database) -> None:
    """A group's complaints of one building and category share the open tickets fetched
    ahead (PostgreSQL: one statement for the group, the 附议 written at the end of the
    transaction): each counts what the ones before it did, as if it had queried alone."""
    building, tid = await _building_with_ticket(db)
    tries: list[str] = []
    later = NOW + timedelta(minutes=5)
    group = [_seconding_job(db, tries, building, p, later) for p in ("r2", "r3", "r2", "r1", "r4")]
    await asyncio.to_thread(db._run_group, group)
    results = await asyncio.gather(*(job.future for job in group))
    assert [count for count, _ in results] == [2, 3, None, None, 4]
    # fetched ahead, and written at the end, on PostgreSQL only
    assert {deferred for _, deferred in results} == {not db.is_sqlite}
    assert tries == ["r2", "r3", "r2", "r1", "r4"]  # each ran once
    count, people, events = await _seconding_read(db, tid)
    assert (count, people) == (4, {"r1", "r2", "r3", "r4"})
    assert events == [
        ("r2", {"reporters": 2}),
        ("r3", {"reporters": 3}),
        ("r4", {"reporters": 4}),
    ]


async def test_a_count_changed_under_a_group_runs_its_seconding_again(db: Database) -> None:
    """PostgreSQL writes a group's 附议 at its end with the count each foresaw: when the
    count has moved meanwhile (another hand on the ticket), the group is undone and each of
    its jobs runs again alone, counting what is there. Nothing is counted twice."""
    from storage.models import Ticket

    building, tid = await _building_with_ticket(db)
    tries: list[str] = []
    later = NOW + timedelta(minutes=5)

    def others_hand(session: Session) -> None:
        tries.append("other")
        t = session.get(Ticket, tid)
        assert t is not None
        t.reporters_count += 5

    group = [
        _seconding_job(db, tries, building, "r2", later),
        _job(db, others_hand, locks=()),
        _seconding_job(db, tries, building, "r3", later),
    ]
    await asyncio.to_thread(db._run_group, group)
    results = await asyncio.gather(*(job.future for job in group))
    assert [results[0][0], results[2][0]] == [2, 8]
    if db.is_sqlite:
        assert tries == ["r2", "other", "r3"]
    else:
        # the group ran, its end found 7 where r2 foresaw 2: undone, each again alone
        assert tries == ["r2", "other", "r3", "r2", "other", "r3"]
        assert not results[0][1] and not results[2][1]  # alone: counted as written
    count, people, events = await _seconding_read(db, tid)
    assert (count, people) == (8, {"r1", "r2", "r3"})
    assert events == [("r2", {"reporters": 2}), ("r3", {"reporters": 8})]


async def test_the_migrations_build_the_schema_the_models_describe(db: Database) -> None:
    """Every table, column and index of storage/models.py, and nothing else, as the
    migrations leave them (a model's index changed without a migration shows here)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (the tables, registered on SQLModel's metadata)

    def diff() -> list[Any]:
        with db.engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))

    assert await asyncio.to_thread(diff) == []


async def test_a_new_ticket_is_held_as_written_without_loading_it_back(db: Database) -> None:
    """create_ticket: the object the session holds is the row written, every column (what
    ``prepare`` derived included, times in UTC), tracked for later changes; on SQLite the
    ticket's row is written by its INSERT alone: no SELECT of it, no UPDATE."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import inspect

    from storage.models import Ticket
    from storage.tickets import create_ticket

    local_now = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    due = NOW + timedelta(minutes=20)
    traced: list[str] = []

    def prepare(t: Ticket) -> None:
        assert t.id is None and t.created_at == local_now  # before it is written
        t.next_deadline_kind, t.next_deadline_at = "response", due
        t.overdue_kind, t.overdue_at = "response", due

    def create(session: Session) -> tuple[dict[str, Any], bool, bool]:
        _person(session, "r1")
        session.flush()
        raw: Any = session.connection().connection.dbapi_connection
        if db.is_sqlite:
            raw.set_trace_callback(traced.append)
        t = create_ticket(
            session,
            first_number=501,
            category="lighting",
            urgent=True,
            summary="楼道灯坏了",
            keywords="楼道灯",
            location="3号楼",
            building_id=None,
            community_id=None,
            room_id="room-1",
            reporter_id="r1",
            message_id=None,
            now=local_now,
            prepare=prepare,
        )
        if db.is_sqlite:
            raw.set_trace_callback(None)
        held = {c: getattr(t, c) for c in Ticket.model_fields}
        clean = inspect(t).persistent and not session.dirty
        t.status = "claimed"  # a change to it is written like any loaded object's
        session.flush()
        return held, clean, session.get(Ticket, t.id) is t

    held, clean, same = await db.run(create)
    assert clean and same

    def load(session: Session) -> dict[str, Any]:
        t = session.exec(select(Ticket)).one()
        return {c: getattr(t, c) for c in Ticket.model_fields}

    loaded = await db.run(load)
    assert loaded == {**held, "status": "claimed"}
    assert held["created_at"].tzinfo == UTC and held["created_at"] == NOW
    assert (held["number"], held["major"], held["overdue_at"]) == (501, True, due)
    if db.is_sqlite:
        ticket_sql = [q for q in traced if " ticket " in f"{q} ".replace('"', " ").lower()]
        assert not [q for q in ticket_sql if q.lstrip().upper().startswith(("SELECT", "UPDATE"))]
        assert any(q.lstrip().upper().startswith("INSERT INTO TICKET ") for q in ticket_sql)


def _size(path: Path | str) -> int:
    return os.stat(path).st_size


async def test_sqlite_checkpoints_in_its_own_thread_not_in_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-ahead log reaches the database file through the checkpointer thread, while
    the writers' commits, below SQLite's own threshold, never do it themselves."""
    import storage.db as storage_db

    monkeypatch.setattr(storage_db, "CHECKPOINT_SECONDS", 0.1)
    path = tmp_path / "bot.db"
    d = Database(f"sqlite:///{path}")
    d.prepare()
    try:
        await d.run(_person, "warm-up")  # the workers and the checkpointer start
        await asyncio.sleep(0.3)
        before = _size(path)
        for i in range(40):
            await d.run(lambda s, i=i: [_person(s, f"p{i}-{j}") for j in range(50)])
        wal = _size(f"{path}-wal")
        assert wal < storage_db.AUTOCHECKPOINT_PAGES * 4096  # SQLite's own would not run
        checkpoints = d.checkpoints
        for _ in range(50):
            if d.checkpoints > checkpoints + 1 and _size(path) > before:
                break
            await asyncio.sleep(0.1)
        assert _size(path) > before  # the rows were copied into the database file
        count = await d.run(lambda s: s.exec(select(func.count()).select_from(Person)).one())
        assert count == 1 + 40 * 50
    finally:
        d.close()
    assert not any(t.name == "db-checkpoint" for t in threading.enumerate())


async def test_sqlite_writer_keeps_its_connection_while_the_checkpointer_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread takes back the connection it just used, its page cache still good,
    while the checkpointer runs a hundred times a second on a connection of its own."""
    import storage.db as storage_db

    monkeypatch.setattr(storage_db, "CHECKPOINT_SECONDS", 0.01)
    d = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    d.prepare()
    used: list[int] = []

    @event.listens_for(d.engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if threading.current_thread().name.startswith("db-") and not (
            threading.current_thread().name == "db-checkpoint"
        ):
            used.append(id(dbapi_conn))

    try:
        for i in range(60):
            await d.run(_person, f"p{i}")
            await asyncio.sleep(0.005)  # the checkpointer runs meanwhile
        assert d.checkpoints >= 5
    finally:
        d.close()
    switches = sum(a != b for a, b in itertools.pairwise(used))
    # (one at most: the checkpointer's first pass may take the connection the writer used)
    assert len(used) == 60 and switches <= 1, f"{switches} switches in {len(used)} checkouts"


def _person_row(pid: str) -> dict[str, Any]:
    return {"id": pid, "name": pid, "created_at": NOW, "erased": False}


def _record_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """The statements of each pgpipe round trip made from now on, in order (b"COMMIT" last
    where the round trip commits)."""
    trips: list[list[bytes]] = []
    real = pgpipe._round_trip

    def recorded(conn: Any, batches: Any, *, commit: bool = False) -> Any:
        rows = [b.sql for b in batches if b.params]
        open_before = conn.pgconn.transaction_status != pq.TransactionStatus.IDLE
        got = real(conn, batches, commit=commit)
        if rows or open_before:  # (otherwise nothing went to the server)
            trips.append(rows + ([b"COMMIT"] if commit else []))
        return got

    monkeypatch.setattr(pgpipe, "_round_trip", recorded)
    return trips


@pytest.mark.postgres
async def test_a_group_sends_its_locks_and_batched_calls_in_one_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The advisory locks a group declared, its messages stored and its complaints' open
    tickets fetched ahead go to the server together, locks first; the jobs' replies and
    handled marks together at the end, with the commit."""
    async with _postgres_database() as d:
        building, _tid = await _building_with_ticket(d)
        trips = _record_round_trips(monkeypatch)
        key = IntakeKey(building, "lighting", NOW - timedelta(hours=1), "r2")
        seen: list[tuple[int, int]] = []

        def complaint(session: Session, stored: StoredMessage, alike: Alike | None) -> int:
            assert alike is not None
            seen.append((stored.id, len(alike.tickets)))
            mark_handled_later(session, stored.id, "complaint")
            return stored.id

        loop = asyncio.get_running_loop()
        group = [
            _job(d, store_incoming, _message("chat-1", intent="none")),
            _Job(
                complaint,
                (),
                loop,
                loop.create_future(),
                (intake_lock_key(building, "lighting"),),
                ((store_incoming, _message("c-1", sender="r2")), (alike_of, key)),
            ),
        ]
        await asyncio.to_thread(d._run_group, group)
        results = await asyncio.gather(*(job.future for job in group))
        assert seen == [(results[1], 1)]  # its own message, and the open ticket
        # everything asked ahead, then everything written at the end with the commit
        assert len(trips) == 2
        first = b" ".join(trips[0])
        assert first.index(b"pg_advisory_xact_lock") < first.index(b"INSERT INTO message")
        assert first.index(b"INSERT INTO message") < first.index(b"FROM unnest")
        assert len(trips[1]) == 2 and trips[1][0].startswith(b"UPDATE message")
        assert trips[1][1] == b"COMMIT"
        handled = await d.run(
            lambda s: {m.channel_message_id: m.handled for m in s.exec(select(Message))}
        )
        assert handled == {"chat-1": True, "c-1": True}


@pytest.mark.postgres
async def test_a_group_that_only_stores_messages_commits_in_one_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Messages stored and nothing else (chit-chat, most of a group's traffic): the COMMIT
    goes with their INSERTs, one round trip for the transaction, alone or grouped. A replay
    among them is looked up after that commit, in a transaction of its own."""
    async with _postgres_database() as d:
        await d.run(store_incoming, _message("before", intent="none"))
        trips = _record_round_trips(monkeypatch)
        alone = await d.run(store_incoming, _message("chat-1", intent="none"))
        assert len(trips) == 1 and trips[0][-1] == b"COMMIT"
        assert any(sql.startswith(b"INSERT INTO message") for sql in trips[0])
        assert alone == StoredMessage(alone.id, False, False)

        trips.clear()
        group = [
            _job(d, store_incoming, _message("chat-2", intent="none")),
            _job(d, store_incoming, _message("to-handle", sender="r2")),
        ]
        await asyncio.to_thread(d._run_group, group)
        first, second = await asyncio.gather(*(job.future for job in group))
        assert len(trips) == 1 and trips[0][-1] == b"COMMIT"
        assert not first.duplicate and not second.duplicate and first.id != second.id

        trips.clear()
        group = [
            _job(d, store_incoming, _message("before", intent="none")),  # a replay
            _job(d, store_incoming, _message("chat-3", intent="none")),
        ]
        await asyncio.to_thread(d._run_group, group)
        replay, new = await asyncio.gather(*(job.future for job in group))
        assert replay.duplicate and replay.handled and not new.duplicate
        # the INSERTs with their COMMIT; then the replay's first copy read, and committed
        assert [t[-1] for t in trips] == [b"COMMIT", b"COMMIT"] and len(trips[1]) == 1

        stored = await d.run(
            lambda s: {m.channel_message_id: m.handled for m in s.exec(select(Message))}
        )
        assert stored == {
            "before": True,
            "chat-1": True,
            "chat-2": True,
            "to-handle": False,
            "chat-3": True,
        }


@pytest.mark.postgres
async def test_work_that_writes_only_at_its_end_commits_in_the_same_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command's reply and handled mark, its message stored before: the transaction
    begins, writes and commits in one round trip (psycopg sends no COMMIT of its own)."""
    async with _postgres_database() as d:
        stored = await d.run(store_incoming, _message("cmd"))
        trips = _record_round_trips(monkeypatch)
        commands: list[bytes] = []
        real = psycopg.Connection._exec_command

        def recorded(self: Any, command: Any, *args: Any, **kw: Any) -> Any:
            commands.append(bytes(command))
            return real(self, command, *args, **kw)

        monkeypatch.setattr(psycopg.Connection, "_exec_command", recorded)
        await d.run(lambda s: mark_handled_later(s, stored.id, "command"))
        assert len(trips) == 1 and trips[0][0].startswith(b"UPDATE message")
        assert trips[0][-1] == b"COMMIT" and commands == []
        handled = await d.run(lambda s: s.get(Message, stored.id))
        assert handled is not None and handled.handled and handled.intent == "command"


@pytest.mark.postgres
async def test_a_message_that_cannot_be_stored_fails_alone_in_a_one_round_trip_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row the server would refuse (a NUL in its text) fails the group's one round trip
    before anything is committed; each message is then stored on its own, so the others
    are stored once and only the bad one fails."""
    async with _postgres_database() as d:
        trips = _record_round_trips(monkeypatch)
        bad = dataclasses.replace(_message("bad", intent="none"), text="收到\x00")
        group = [
            _job(d, store_incoming, _message("good-1", intent="none")),
            _job(d, store_incoming, bad),
            _job(d, store_incoming, _message("good-2", sender="r2")),
        ]
        await asyncio.to_thread(d._run_group, group)
        got = await asyncio.gather(*(job.future for job in group), return_exceptions=True)
        assert isinstance(got[1], psycopg.DataError)
        first, second = got[0], got[2]
        assert isinstance(first, StoredMessage) and isinstance(second, StoredMessage)
        assert not first.duplicate and not second.duplicate
        # the group's try sent nothing (the bad row failed as it was written out); then each
        # good message was stored alone, as any job of a failed group is (its rows, then
        # its COMMIT)
        alone = list(trips)
        assert len(alone) == 4 and alone[1] == alone[3] == [b"COMMIT"]
        stored = await d.run(
            lambda s: sorted(m.channel_message_id for m in s.exec(select(Message)))
        )
        assert stored == ["good-1", "good-2"]


@pytest.mark.postgres
async def test_a_commit_asked_of_a_connection_with_no_transaction_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows committed by an earlier round trip: a COMMIT asked for afterwards has nothing to
    do, and begins no transaction that would be left open."""
    exchanges: list[object] = []
    real = pgpipe._exchange

    def counted(pg: Any) -> Any:
        exchanges.append(pg)
        return real(pg)

    monkeypatch.setattr(pgpipe, "_exchange", counted)
    async with _postgres_database() as d:
        with d.engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            raw.commit()
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
            assert pgpipe.send(raw, [], commit=True) == []
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
            assert exchanges == []  # no round trip made
            rows = pgpipe.Rows(
                b"INSERT INTO person (id, name, created_at, erased) VALUES ($1, $2, $3, $4)",
                [("p1", "p1", NOW, False)],
            )
            pgpipe.send(raw, [rows], commit=True)
            # begun for the row, and committed with it in the same round trip
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
            assert len(exchanges) == 1
        assert await d.run(lambda s: s.get(Person, "p1")) is not None


@pytest.mark.postgres
async def test_statements_prepared_here_survive_psycopg_deallocating_its_own() -> None:
    """psycopg, after a rollback (of a savepoint too), deallocates every prepared statement
    of the connection, those pgpipe prepared as well: pgpipe prepares them again."""
    async with _postgres_database() as d:

        def work(session: Session) -> list[Any]:
            raw: Any = session.connection().connection.dbapi_connection
            got = [_PERSON_INSERT.many_first(session, [_person_row("a")])]
            for _ in range(6):  # psycopg prepares a statement run this often
                raw.execute("SELECT count(*) FROM person WHERE id = %s", ("a",))
            raw.execute("SAVEPOINT s; ROLLBACK TO SAVEPOINT s")
            got.append(_PERSON_INSERT.many_first(session, [_person_row("b")]))
            return got

        await d.run(work)
        people = await d.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
        assert people == ["a", "b"]


@pytest.mark.postgres
async def test_statements_asked_ahead_go_nowhere_when_their_transaction_rolls_back() -> None:
    """Rolled back before their round trip, on a connection kept (and when it goes back to
    the pool): they are not sent with the next transaction's statements."""
    async with _postgres_database() as d:

        def on_one_connection() -> list[str]:
            with d.engine.connect() as conn, Session(bind=conn) as session:
                _PERSON_INSERT.ahead(session, [_person_row("never")])
                session.rollback()  # before anything made the round trip
                _PERSON_INSERT.many(session, [_person_row("kept")])
                session.commit()
                return sorted(p.id for p in session.exec(select(Person)))

        def in_a_session(session: Session) -> None:
            _PERSON_INSERT.ahead(session, [_person_row("never either")])
            raise RuntimeError("the work gives up before its round trip")

        assert await asyncio.to_thread(on_one_connection) == ["kept"]
        with pytest.raises(RuntimeError):
            await d.run(in_a_session)
        await d.run(lambda s: _PERSON_INSERT.many(s, [_person_row("later")]))
        people = await d.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
        assert people == ["kept", "later"]


@pytest.mark.postgres
async def test_a_failing_statement_in_a_round_trip_raises_its_own_error() -> None:
    """A statement that fails among others raises psycopg's error for it (its SQLSTATE
    intact), every answer of the round trip raises it, and nothing of it stays."""
    plain_insert = Plain(
        insert(Person).values({c: bindparam(c) for c in ("id", "name", "created_at", "erased")})
    )
    async with _postgres_database() as d:

        def work(session: Session) -> None:
            before = _PERSON_INSERT.ahead(session, [_person_row("first")])
            clash = plain_insert.ahead(session, [_person_row("x"), _person_row("x")])
            with pytest.raises(psycopg.errors.UniqueViolation):
                clash()
            with pytest.raises(psycopg.errors.UniqueViolation):
                before()
            raise RuntimeError("the work gives up")

        with pytest.raises(RuntimeError):
            await d.run(work)
        assert await d.run(lambda s: list(s.exec(select(Person)))) == []
        await d.run(lambda s: _PERSON_INSERT.many(s, [_person_row("after")]))
        assert await d.run(lambda s: [p.id for p in s.exec(select(Person))]) == ["after"]


@pytest.mark.postgres
async def test_a_connection_lost_in_the_middle_of_work_fails_it_and_the_next_work_goes_on() -> None:
    """The server ends a connection while work is using it: that work fails with the
    driver's error for a lost connection, nothing of it stays, and the next work runs on
    another connection."""
    from sqlalchemy.exc import OperationalError

    from tests.harness import PG_URL

    async with _postgres_database() as d:

        def cut_off(session: Session) -> None:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            _PERSON_INSERT.many(session, [_person_row("before")])
            with psycopg.connect(PG_URL, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))
            time.sleep(0.2)  # the backend is gone
            _PERSON_INSERT.many(session, [_person_row("x"), _person_row("y")])

        with pytest.raises(OperationalError):
            await d.run(cut_off)
        await d.run(lambda s: _PERSON_INSERT.many(s, [_person_row("after")]))
        people = await d.run(lambda s: sorted(p.id for p in s.exec(select(Person))))
        assert people == ["after"]


async def test_a_write_given_an_expectation_must_check_it_itself(db: Database) -> None:
    """On PostgreSQL the commit goes with the last writes, so a statement given ``expect``
    must check it itself (its parameter ``expect``): one that does not is refused up front."""
    from storage.db import later
    from storage.tickets import _SECONDED_FORESEEN, _SECONDED_PG, _seconded_pg_row

    row = _seconded_pg_row(1, "r1", None, NOW, 10)

    def give(session: Session, statement: Plain) -> None:
        later(session, statement, row, expect=2)
        session.info.clear()  # nothing to write: only the refusal is looked at

    with pytest.raises(ValueError, match="must check it"):
        await db.run(give, _SECONDED_PG)
    await db.run(give, _SECONDED_FORESEEN)


@pytest.mark.postgres
async def test_a_groups_open_tickets_are_fetched_by_one_plan_for_any_keys() -> None:
    """The server plans the fetch once per connection (a generic plan), not again for every
    group's keys, and only that statement: the statements after it have the setting the
    transaction had before."""
    async with _postgres_database() as d:

        def work(session: Session) -> tuple[str, str, list[Any]]:
            setting = "SELECT current_setting('plan_cache_mode')"
            before = session.execute(text(setting)).scalar_one()
            since = NOW - timedelta(days=30)
            for n in range(1, 8):  # the server plans a statement anew for five runs at least
                keys = [IntakeKey(b, "repair", since, "someone") for b in range(1, n + 1)]
                assert [a.tickets for a in alike_of.many(session, keys) if a] == [[]] * n
            after = session.execute(text(setting)).scalar_one()
            plans = session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%FROM unnest(%'"
                )
            ).all()
            return before, after, [tuple(p) for p in plans]

        before, after, plans = await d.run(work)
        assert after == before
        assert plans == [(7, 0)]


def test_an_insert_of_one_row_is_widened_to_many_rows_numbered_on() -> None:
    one = b"INSERT INTO t (a, b) VALUES ($1::VARCHAR, coalesce((SELECT x FROM y WHERE y.id = $2), $3)) ON CONFLICT DO NOTHING RETURNING t.a, t.id"
    three = pgpipe._values_for(one, 3)
    assert three == (
        b"INSERT INTO t (a, b) VALUES "
        b"($1::VARCHAR, coalesce((SELECT x FROM y WHERE y.id = $2), $3)), "
        b"($4::VARCHAR, coalesce((SELECT x FROM y WHERE y.id = $5), $6)), "
        b"($7::VARCHAR, coalesce((SELECT x FROM y WHERE y.id = $8), $9))"
        b" ON CONFLICT DO NOTHING RETURNING t.a, t.id"
    )
    assert pgpipe._values_for(one, 1) == one
    for refused in (
        b"INSERT INTO t (a) VALUES ('x', $1)",  # a quote in the row
        b"INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = $2",  # a parameter after
        b"INSERT INTO t (a) VALUES ($2)",  # numbers not 1 … k
        b"UPDATE t SET a = $1",  # no VALUES
    ):
        with pytest.raises(ValueError):
            pgpipe._values_for(refused, 2)


@pytest.mark.postgres
async def test_rows_run_together_each_find_what_they_returned() -> None:
    """An INSERT of many rows goes as few statements of a power of two rows each, up to
    TOGETHER_MAX (each size prepared once per connection); each row still gets its own
    answer (a row already there, or given twice, gets none), as one at a time would."""
    async with _postgres_database() as d:
        await d.run(lambda s: _MESSAGE_INSERT.many_first(s, [_message("m5").row()]))
        # m5 stored before; m7 given twice, in the same statement of 64
        cids = ["m7"] + [f"m{i}" for i in range(150)]

        def insert(session: Session) -> tuple[list[Any], list[str]]:
            found = _MESSAGE_INSERT.many_first(session, [_message(c).row() for c in cids])
            prepared = session.connection().exec_driver_sql(
                "SELECT statement FROM pg_prepared_statements"
            )
            return found, [
                str(r[0]) for r in prepared if str(r[0]).startswith("INSERT INTO message")
            ]

        found, statements = await d.run(insert)
        ids = await d.run(lambda s: {m.channel_message_id: m.id for m in s.exec(select(Message))})
        assert len(ids) == 150
        expected = [
            None if c == "m5" or (c == "m7" and i > 0) else (ids[c],) for i, c in enumerate(cids)
        ]
        assert found == expected
        # 151 rows: 64 + 64 + 16 + 4 + 2 + 1, six statements of five sizes (each prepared
        # once; the one row stored before went as a statement of one too)
        sizes = {s.count("), (") + 1 for s in statements}
        assert sizes == {64, 16, 4, 2, 1}, statements


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://"])
def test_plain_values_are_processed_as_sqlalchemy_would(url: str) -> None:
    """The values a Plain statement sends are what its columns' bind processors make of
    them, whether the processor is called or known to leave the value as it is."""
    dialect = create_engine(url).dialect
    compiled = _MESSAGE_INSERT._compile(dialect)
    east = timezone(timedelta(hours=8))
    for when in (NOW, NOW.astimezone(east)):
        for handled in (True, False, 1, 0):
            row = {**_message("m").row(), "time": when, "received_at": when, "handled": handled}
            got = compiled.values(row)
            for name, process, _ in compiled.processors:
                want = process(row[name])
                assert got[name] == want and type(got[name]) is type(want)
                if isinstance(got[name], datetime):  # (SQLite's: text)
                    assert got[name].utcoffset() == timedelta(0)
    with pytest.raises(ValueError):  # a naive time is refused, as SQLAlchemy refuses it
        compiled.values({**_message("m").row(), "time": NOW.replace(tzinfo=None)})


@pytest.mark.postgres
async def test_arrays_reach_the_server_as_they_were_given() -> None:
    """Lists bound to ARRAY parameters go as PostgreSQL's text form of an array (built by
    Plain, not by psycopg's list dumper): each element arrives as it was, quotes, commas,
    braces, backslashes and NULLs included."""
    from sqlalchemy import DateTime, Integer, String
    from sqlalchemy.dialects.postgresql import ARRAY

    echo = Plain(
        select(
            bindparam("ints", type_=ARRAY(Integer)),
            bindparam("texts", type_=ARRAY(String)),
            bindparam("times", type_=ARRAY(DateTime(timezone=True))),
        )
    )
    east = timezone(timedelta(hours=8))
    cases = [
        (
            [1, -2, 2_000_000_000],
            ["a", 'say "hi"', "a,b", "{x}", "back\\slash", "", "NULL", "电梯 坏了"],
            [NOW, NOW.astimezone(east)],
        ),
        ([], [], []),
        ([None, 5], [None, "x"], [None]),
    ]
    sent = echo._compile(create_engine("postgresql+psycopg://").dialect).values(
        {"ints": [1], "texts": ["a"], "times": [NOW]}
    )
    assert [sent[k] for k in ("ints", "texts", "times")] == [
        "{1}",
        '{"a"}',
        '{"2026-11-23T02:00:00+00:00"}',
    ]  # (as text: psycopg's list dumper is not used)
    async with _postgres_database() as d:
        for ints, texts, times in cases:
            got = await d.run(echo.first, {"ints": ints, "texts": texts, "times": times})
            assert got == (ints, texts, times)


def test_an_insert_that_asks_for_nothing_back_returns_nothing() -> None:
    """PostgreSQL's compiler adds a RETURNING of a serial key to an INSERT of one row by
    itself; Plain keeps it out unless the statement asks for one (nobody would read it)."""
    from storage.outbox import _ROOM_LATER, _ROOM_POST
    from storage.tickets import _EVENT, _TICKET

    dialect = create_engine("postgresql+psycopg://").dialect
    for asks_nothing in (_EVENT, _ROOM_LATER):
        assert b"RETURNING" not in (asks_nothing._compile(dialect).dollar or b"")
    for asks in (_TICKET, _ROOM_POST):
        assert b"RETURNING" in (asks._compile(dialect).dollar or b"")
