"""Working-time deadlines (chinese-calendar holidays and 调休) and the major rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from config.schema import SlaConfig
from handlers.sla import add_working_time, deadlines, is_major
from storage.models import Ticket
from tests.clock_helpers import ROOM3, TZ, local, quiet_settings
from tests.harness import demo_settings, running_bot

WORKING = demo_settings().model_copy(update={"sla": SlaConfig(working_time=True)})


def ticket(created: datetime, **kw: object) -> Ticket:
    return Ticket(
        number=1,
        category="repair",
        summary="x",
        reporter_id="p",
        created_at=created,
        updated_at=created,
        **kw,  # type: ignore[arg-type]
    )


def shanghai(dt: datetime) -> str:
    return dt.astimezone(TZ).strftime("%m-%d %H:%M")


def test_working_time_skips_evenings_weekends_and_national_day() -> None:
    from datetime import timedelta

    twenty = timedelta(minutes=20)
    # Friday 17:20 + 20 working minutes: 10 today, 10 on Monday
    assert shanghai(add_working_time(local(2026, 10, 30, 17, 20), twenty, WORKING)) == "11-02 08:40"
    # the eve of National Day: the holiday (Oct 1-7) does not count
    assert shanghai(add_working_time(local(2026, 9, 30, 17, 20), twenty, WORKING)) == "10-08 08:40"
    # Saturday Oct 10 2026 is a make-up working day (调休)
    assert shanghai(add_working_time(local(2026, 10, 9, 17, 20), twenty, WORKING)) == "10-10 08:40"
    # at night: the clock starts in the morning
    assert shanghai(add_working_time(local(2026, 11, 23, 23, 0), twenty, WORKING)) == "11-24 08:50"
    # 24 working hours from Monday 10:00: 7.5 + 9 + 7.5 (working day 08:30-17:30)
    day = add_working_time(local(2026, 11, 23, 10, 0), timedelta(hours=24), WORKING)
    assert shanghai(day) == "11-25 16:00"


def test_urgent_tickets_never_wait_for_working_time() -> None:
    t = ticket(local(2026, 11, 23, 23, 0), urgent=True)
    kinds = dict(deadlines(t, WORKING))
    assert shanghai(kinds["response"]) == "11-23 23:20"
    assert "reply" in kinds  # urgent is major


def test_major_rule() -> None:
    s = demo_settings()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert not is_major(ticket(now), s)
    assert is_major(ticket(now, reporters_count=3), s)
    assert is_major(ticket(now, urgent=True), s)
    marked = s.model_copy(
        update={"tickets": s.tickets.model_copy(update={"major_categories": ["repair"]})}
    )
    assert is_major(ticket(now), marked)
    assert [k for k, _ in deadlines(ticket(now), marked)] == [
        "response",
        "plan",
        "reply",
        "solution",
    ]


async def test_working_time_reminder_waits_for_the_morning(sqlite_url: str, tmp_path: Path) -> None:
    settings = quiet_settings(tmp_path, sla=SlaConfig(working_time=True))
    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 20, 0)) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        t = await h.db.run(lambda s: s.exec(select(Ticket)).one())
        # the clock the ticket is written with counts working time (the sweep's and the
        # overdue count's moment alike)
        assert (t.next_deadline_kind, t.overdue_kind) == ("response", "response")
        assert shanghai(t.next_deadline_at) == shanghai(t.overdue_at) == "11-24 08:50"
        await h.advance(12 * 60 + 49)  # 08:49 next morning
        assert await h.private("王红管") == []
        await h.advance(1)  # 08:50: 20 working minutes after 08:30
        [msg] = await h.private("王红管")
        assert "响应时限已过（应在11月24日 08:50前）" in msg
