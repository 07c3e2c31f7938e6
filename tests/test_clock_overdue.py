"""Overdue is one stored moment (Ticket.overdue_at): the first unmet "2341" deadline, kept
with every step, filled at start-up for rows without one; the trend counts local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from config.schema import Settings
from handlers.officers import overdue
from handlers.sla import first_unmet, is_overdue, next_deadline, refresh_deadline
from storage import Database, stats
from storage.models import OPEN_STATUSES, Ticket
from storage.tickets import create_ticket
from tests.clock_helpers import ROOM3, ROOM5, quiet_settings
from tests.harness import START, Harness, demo_settings, running_bot


async def tickets(h: Harness) -> list[Ticket]:
    def rows(session: Session) -> list[Ticket]:
        return list(session.exec(select(Ticket).order_by(Ticket.number)))  # type: ignore[arg-type]

    return await h.db.run(rows)


async def assert_stored_overdue_is_first_unmet(h: Harness, settings: Settings) -> None:
    """Every ticket's stored moment equals the SLA's answer from its state, and "overdue"
    from it equals "overdue" from next_deadline, now and just around the moment."""
    now = h.bot.services.clock.now()
    for t in await tickets(h):
        due = first_unmet(t, settings)
        assert (t.overdue_kind, t.overdue_at) == (due if due else (None, None)), t.number
        around = [due[1] - timedelta(seconds=1), due[1]] if due else []
        for moment in (now, *around):
            nxt = next_deadline(t, settings)
            old = t.status in OPEN_STATUSES and nxt is not None and nxt[1] <= moment
            assert is_overdue(t, moment) == old, (t.number, moment)


async def test_the_stored_overdue_moment_follows_every_step(db_url: str, tmp_path: Path) -> None:
    # working time on: the clock of the 2341 deadlines runs in working hours only, which the
    # intake's first wake-up (wall time) does not follow — the overdue moment must
    base = quiet_settings(tmp_path)
    settings = base.model_copy(update={"sla": base.sla.model_copy(update={"working_time": True})})
    async with running_bot(db_url, settings) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")  # 1001
        await h.say(ROOM3, "李大爷", "3号楼门口垃圾没人清理，都臭了")  # 1002
        await h.say(ROOM5, "小刘", "5号楼电梯坏了")  # 1003
        await assert_stored_overdue_is_first_unmet(h, settings)
        assert [t.overdue_kind for t in await tickets(h)] == ["response"] * 3
        await h.say(ROOM3, "王红管", "#接单 1001")
        await h.say(ROOM3, "王阿姨", "#附议 1002")  # seconded: one more reporter
        await h.say(ROOM3, "赵大妈", "3号楼门口垃圾没人清理，都臭了")  # the same, in words
        await assert_stored_overdue_is_first_unmet(h, settings)
        await h.say(ROOM3, "王红管", "#方案 1001 今天下午三点前更换灯泡")
        await h.advance(60 * 30)  # the sweep reminds and escalates: overdue stays put
        await assert_stored_overdue_is_first_unmet(h, settings)
        by_number = {t.number: t for t in await tickets(h)}
        assert by_number[1002].reporters_count >= 3 and by_number[1002].major
        assert by_number[1002].overdue_kind == "response"
        assert is_overdue(by_number[1002], h.bot.services.clock.now())
        await h.say(ROOM3, "王红管", "#办结 1001 已更换灯泡")
        assert (await tickets(h))[0].overdue_at is None  # resolved: not overdue any more
        await h.say(ROOM3, "张阿姨", "#评价 1001 不满意 还是不亮")  # reopened: counts again
        await assert_stored_overdue_is_first_unmet(h, settings)
        reopened = (await tickets(h))[0]
        assert reopened.status == "claimed" and reopened.overdue_kind == "plan"
        assert reopened.overdue_at is not None and reopened.reopened_at is not None
        assert reopened.overdue_at > reopened.reopened_at
        await h.say(ROOM5, "小刘", "#撤销 1003")
        await assert_stored_overdue_is_first_unmet(h, settings)


async def test_open_tickets_without_a_stored_moment_get_it_at_start_up(
    db_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path)
    async with running_bot(db_url, settings) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        await h.say(ROOM5, "小刘", "5号楼电梯坏了")
        await h.say(ROOM3, "王红管", "#接单 1001")
        before = [(t.overdue_kind, t.overdue_at) for t in await tickets(h)]

        def forget(session: Session) -> None:  # as rows from before migration 0005 are
            session.execute(update(Ticket).values(overdue_at=None, overdue_kind=None))

        await h.db.run(forget)
    async with running_bot(db_url, settings) as h:
        assert [(t.overdue_kind, t.overdue_at) for t in await tickets(h)] == before
        assert [k for k, _ in before] == ["plan", "response"]


def test_the_trend_counts_local_days_across_a_clock_change(db_url: str) -> None:
    """daily_series buckets by the local calendar day, DST included (Berlin, 25 Oct 2026)."""
    tz = ZoneInfo("Europe/Berlin")
    db = Database(db_url)
    db.prepare()
    settings = demo_settings()
    first = date(2026, 10, 23)
    moments = [
        datetime(2026, 10, 22, 21, 59, tzinfo=UTC),  # 23:59 on the 22nd: before the window
        datetime(2026, 10, 22, 22, 0, tzinfo=UTC),  # 00:00 on the 23rd (CEST)
        datetime(2026, 10, 24, 21, 59, 59, tzinfo=UTC),  # 23:59:59 on the 24th
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # 00:00 on the 25th (still CEST)
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),  # 23:30 on the 25th (CET now)
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 on the 26th
        datetime(2026, 10, 26, 22, 59, tzinfo=UTC),  # 23:59 on the 26th: the last day
        datetime(2026, 10, 26, 23, 0, tzinfo=UTC),  # the 27th: after the window
    ]

    def fill(session: Session) -> None:
        from bot.setup import sync_config

        sync_config(session, settings, START)
        for i, at in enumerate(moments):
            t = create_ticket(
                session,
                first_number=1001,
                category="repair",
                urgent=False,
                summary=f"问题{i}",
                location=None,
                building_id=None,
                community_id=None,
                room_id=None,
                reporter_id="wxid_admin",
                message_id=None,
                now=at - timedelta(days=3),
            )
            t.created_at = at
            t.resolved_at = at + timedelta(hours=1)
            session.add(t)

    db.call(fill)
    try:
        got = db.call(stats.daily_series, first, 4, tz, None)
        expected = []
        for i in range(4):
            day = first + timedelta(days=i)
            new = sum(m.astimezone(tz).date() == day for m in moments)
            res = sum((m + timedelta(hours=1)).astimezone(tz).date() == day for m in moments)
            expected.append((day, new, res))
        assert got == expected
        assert [n for _, n, _ in got] == [1, 1, 2, 2]
        assert db.call(stats.daily_series, first, 0, tz, None) == []
        assert db.call(stats.daily_series, first, 1, tz, set()) == [(first, 0, 0)]
    finally:
        db.close()


async def test_many_overdue_are_counted_and_the_oldest_listed(db_url: str, tmp_path: Path) -> None:
    """#逾期 and #统计 count every overdue ticket of the area and list the oldest first."""
    settings = quiet_settings(tmp_path)
    async with running_bot(db_url, settings) as h:
        s = h.bot.services
        b3 = s.directory.current.find_building("阳光花园", "3号楼")
        assert b3 is not None

        def report(session: Session) -> None:  # 40 tickets, one a minute from 08:00 back
            for i in range(40):
                t = create_ticket(
                    session,
                    first_number=1001,
                    category="repair",
                    urgent=False,
                    summary=f"问题{i}",
                    location=None,
                    building_id=b3.id,
                    community_id=b3.community_id,
                    room_id=None,
                    reporter_id="wxid_admin",
                    message_id=None,
                    now=START - timedelta(hours=2, minutes=i),
                )
                if i % 4 == 0:  # a quarter claimed: their plan is what is late
                    t.status, t.first_response_at = "claimed", t.created_at
                refresh_deadline(t, settings)
                session.add(t)

        await h.db.run(report)
        await h.say(None, "赵书记", "#逾期")
        text = (await h.private("赵书记"))[-1]
        lines = text.splitlines()
        assert lines[0] == "逾期工单 40 件（最早的在前）："
        assert len(lines) == 1 + 30 + 1 and lines[-1] == "……另有 10 件"
        # oldest deadline first: the ticket reported first (#1040, 07:21) is the oldest
        assert lines[1].startswith("· #1040【") and "响应应在11月23日 07:41前" in lines[1]
        await h.say(None, "赵书记", "#统计")
        assert "当前逾期 40 件" in (await h.private("赵书记"))[-1]
        late = await h.db.run(
            lambda session: overdue(session, settings, {b3.id}, h.bot.services.clock.now(), 10)
        )
        assert [o.ticket.number for o in late] == sorted(
            (o.ticket.number for o in late), reverse=True
        )
        assert len(late) == 10 and [o.due for o in late] == sorted(o.due for o in late)
