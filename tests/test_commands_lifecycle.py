"""The state machine on its own: allowed transitions only, auto-close of unrated tickets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session

from bot.setup import sync_config
from handlers import lifecycle
from handlers.lifecycle import ALLOWED, Act, TransitionRefused, close_unrated
from handlers.ticket_talk import auto_close_notices
from storage import Database
from storage.models import TICKET_STATUSES, Ticket
from storage.tickets import create_ticket, ticket_events
from tests.harness import START, Harness, demo_settings

SETTINGS = demo_settings()


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    d = Database(sqlite_url)
    d.prepare()
    d.call(sync_config, SETTINGS, START)
    yield d
    d.close()


def _ticket(session: Session, status: str = "new", **kw: object) -> Ticket:
    t = create_ticket(
        session,
        first_number=1001,
        category="repair",
        urgent=False,
        summary="楼道灯坏了",
        location=None,
        building_id=None,
        community_id=None,
        room_id="room-yg-3",
        reporter_id="wxid_admin",
        message_id=None,
        now=START,
    )
    t.status = status
    if status != "new":
        t.assignee_id = "wxid_liwangge"
    for k, v in kw.items():
        setattr(t, k, v)
    session.add(t)
    session.flush()
    return t


def _act(minutes: float = 0) -> Act:
    return Act("wxid_wanghongguan", START + timedelta(minutes=minutes), SETTINGS)


Step = Callable[[Session, Ticket], object]
STEPS: dict[str, tuple[Step, set[str]]] = {
    "claim": (lambda s, t: lifecycle.claim(s, t, _act()), {"new"}),
    "plan": (lambda s, t: lifecycle.plan(s, t, _act(), "p"), {"claimed", "planned"}),
    "resolve": (lambda s, t: lifecycle.resolve(s, t, _act(), "r"), {"claimed", "planned"}),
    "cancel": (lambda s, t: lifecycle.cancel(s, t, _act()), {"new", "claimed", "planned"}),
    "rate": (lambda s, t: lifecycle.rate(s, t, _act(), "满意", ""), {"resolved"}),
    "escalate": (lambda s, t: lifecycle.escalate(s, t, _act(), "x"), {"new", "claimed", "planned"}),
}


def test_only_allowed_transitions(db: Database) -> None:
    """Every step from every status: done where allowed, refused (and no event) elsewhere."""
    for step, (fn, allowed_from) in sorted(STEPS.items()):
        for status in TICKET_STATUSES:

            def run(
                session: Session, fn: Step = fn, status: str = status
            ) -> tuple[bool, str, list[str]]:
                t = _ticket(session, status)
                assert t.id is not None
                try:
                    fn(session, t)
                    done = True
                except TransitionRefused:
                    done = False
                return done, t.status, [e.kind for e in ticket_events(session, t.id)]

            done, after, kinds = db.call(run)
            assert done == (status in allowed_from), (step, status)
            if done:
                assert len(kinds) >= 2 and after in ALLOWED[status] | {status}, (step, status)
            else:
                assert (after, kinds) == (status, ["created"]), (step, status)


def test_the_state_table_has_no_way_out_of_closed_or_cancelled() -> None:
    assert ALLOWED["closed"] == ALLOWED["cancelled"] == frozenset()
    assert set(ALLOWED) == set(TICKET_STATUSES)


def test_unsatisfied_rating_reopens_with_deadlines_from_the_reopening(db: Database) -> None:
    def run(session: Session) -> Ticket:
        t = _ticket(session)
        lifecycle.claim(session, t, _act(5))
        lifecycle.plan(session, t, _act(10), "换灯")
        lifecycle.resolve(session, t, _act(600), "好了")
        assert lifecycle.rate(session, t, _act(900), "不满意", "还是暗") is False
        return t

    t = db.call(run)
    assert (t.status, t.rung, t.rating, t.rating_comment) == ("claimed", 1, "不满意", "还是暗")
    assert t.reopened_at == START + timedelta(minutes=900)
    assert t.next_deadline_kind == "plan"
    assert t.next_deadline_at == START + timedelta(minutes=930)


def test_close_unrated_after_the_configured_hours(db: Database) -> None:
    hours = SETTINGS.tickets.auto_close_hours

    def setup(session: Session) -> None:
        old = _ticket(session)
        lifecycle.claim(session, old, _act())
        lifecycle.resolve(session, old, _act(10), "好了")
        young = _ticket(session)
        lifecycle.claim(session, young, _act())
        lifecycle.resolve(session, young, _act(120), "好了")
        _ticket(session)  # still new: untouched

    db.call(setup)
    at = START + timedelta(hours=hours, minutes=10)

    def close(session: Session) -> list[tuple[int, str, list[str]]]:
        closed = close_unrated(session, at, SETTINGS)
        notices = auto_close_notices(session, closed, SETTINGS)
        assert [n.key for n in notices] == [f"autoclose:{t.id}:0" for t in closed]
        assert all(n.room_id == "room-yg-3" and n.quiet for n in notices)
        return [
            (t.number, t.status, [e.kind for e in ticket_events(session, t.id or 0)])
            for t in closed
        ]

    assert db.call(close) == [(1001, "closed", ["created", "claimed", "resolved", "closed"])]
    assert db.call(close) == []  # idempotent

    def state(session: Session) -> list[tuple[int, str, object]]:
        from sqlmodel import select

        return [
            (t.number, t.status, t.next_deadline_kind)
            for t in session.exec(select(Ticket).order_by(Ticket.number))  # type: ignore[arg-type]
        ]

    assert db.call(state) == [
        (1001, "closed", None),
        (1002, "resolved", "rating"),
        (1003, "new", None),
    ]


def test_next_auto_close_is_the_oldest_resolution_plus_the_wait(db: Database) -> None:
    from handlers.lifecycle import next_auto_close

    assert db.call(next_auto_close, SETTINGS) is None

    def setup(session: Session) -> None:
        for minutes in (30, 10):
            t = _ticket(session)
            lifecycle.claim(session, t, _act())
            lifecycle.resolve(session, t, _act(minutes), "好了")

    db.call(setup)
    wait = timedelta(hours=SETTINGS.tickets.auto_close_hours)
    assert db.call(next_auto_close, SETTINGS) == START + timedelta(minutes=10) + wait


async def test_auto_close_through_the_clock(harness: Harness) -> None:
    from tests.commands_support import ROOM3, complaint, events

    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#办结 {n} 已更换灯泡")
    await h.advance(SETTINGS.tickets.auto_close_hours * 60 - 1)
    assert (await h.ticket(n))["status"] == "resolved"
    await h.advance(2)
    t = await h.ticket(n)
    assert t["status"] == "closed" and t["rating"] is None
    assert await events(h, n) == ["created", "claimed", "resolved", "closed"]
    room = await h.room(ROOM3)
    assert "未收到评价，已自动关闭" in room[-1]["text"] and room[-1]["mentions"] == ["sim_张阿姨"]
    await h.advance(60 * 24)
    assert len([m for m in await h.room(ROOM3) if "自动关闭" in m["text"]]) == 1


async def test_a_ticket_failing_in_a_sweep_batch_does_not_stop_the_others(
    harness: Harness,
) -> None:
    """The sweep handles due tickets in batches; one ticket's failure is its own."""
    from bot.jobs.deadlines import DeadlineSweep
    from tests.commands_support import ROOM3, complaint

    h = harness
    first = await complaint(h)
    second = await complaint(h, ROOM3, "李大爷", "3号楼电梯又坏了，停在三楼不动")
    assert second != first
    for n in (first, second):
        await h.say(ROOM3, "王红管", f"#接单 {n}")
        await h.say(ROOM3, "王红管", f"#办结 {n} 已处理")
    [sweep] = [w for w in h.bot.timekeeper.work if isinstance(w, DeadlineSweep)]
    close = sweep.auto_close

    def close_but_not_the_first(session, ticket, now, services):  # type: ignore[no-untyped-def]
        if ticket.number == first:
            raise RuntimeError("this one breaks")
        return close(session, ticket, now, services)

    sweep.auto_close = close_but_not_the_first
    await h.advance(SETTINGS.tickets.auto_close_hours * 60 + 1)  # both due in one sweep
    assert (await h.ticket(first))["status"] == "resolved"
    assert (await h.ticket(second))["status"] == "closed"
    sweep.auto_close = close
    await h.advance(1)  # the next sweep closes the one that failed
    assert (await h.ticket(first))["status"] == "closed"
