"""Deadlines: the 20-minute reminder, the escalation ladder, quiet hours, urgent tickets."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from storage.models import OutboxMessage, Ticket, TicketEvent
from tests.clock_helpers import ROOM3, at_local, local, private_entries, quiet_settings
from tests.harness import Harness, running_bot

COMPLAINT = "3号楼2单元楼道灯坏了好几天了"
REMIND = (
    "⏰提醒：工单 #1001【设施维修】3号楼2单元楼道的响应时限已过（应在11月23日 10:20前），"
    "请尽快处理：发送“#接单 1001”认领"
)
TO_GRID = (
    "🔺工单 #1001 已升级到网格员：方案时限已过（应在11月23日 10:30前）。\n"
    "【设施维修】3号楼2单元楼道：3号楼2单元楼道灯坏了好几天了\n"
    "报告于11月23日 10:00，状态：待认领，负责人：无人认领。\n"
    "请督办：发送“#工单 1001”查看，“#升级 1001 原因”继续上报。"
)
TO_COMMUNITY = (
    "🔺工单 #1001 已升级到社区：办结时限已过（应在11月24日 10:00前）。\n"
    "【设施维修】3号楼2单元楼道：3号楼2单元楼道灯坏了好几天了\n"
    "报告于11月23日 10:00，状态：待认领，负责人：无人认领。\n"
    "请督办：发送“#工单 1001”查看，“#升级 1001 原因”继续上报。"
)
OFFICERS = ("王红管", "李网格", "赵书记", "钱主任", "吴科长", "孙管家", "周网格")


async def privately(h: Harness) -> dict[str, list[str]]:
    """What each officer got in private chat."""
    return {name: await h.private(name) for name in OFFICERS}


async def events(h: Harness) -> list[tuple[str, dict[str, object] | None]]:
    def q(session):  # type: ignore[no-untyped-def]
        return [
            (e.kind, e.data) for e in session.exec(select(TicketEvent).order_by(TicketEvent.id))
        ]

    return await h.db.run(q)


async def test_unclaimed_ticket_is_reminded_then_climbs_to_grid_then_community(
    db_url: str, tmp_path: Path
) -> None:
    async with running_bot(db_url, quiet_settings(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        await h.advance(19)
        assert len(await h.bot_lines(ROOM3)) == 1  # only the acknowledgement
        assert all(v == [] for v in (await privately(h)).values())

        await h.advance(1)  # 10:20: the response deadline passed
        lines = await h.bot_lines(ROOM3)
        assert lines[1:] == ["@王红管\u2005" + REMIND]
        assert (await h.room(ROOM3))[-1]["mentions"] == ["wxid_wanghongguan"]
        assert await privately(h) == {**{n: [] for n in OFFICERS}, "王红管": [REMIND]}

        await h.advance(10)  # 10:30: the plan deadline passed too: one rung up
        assert await privately(h) == {
            **{n: [] for n in OFFICERS},
            "王红管": [REMIND],
            "李网格": [TO_GRID],
        }
        assert len(await h.bot_lines(ROOM3)) == 2  # escalation is private

        await h.advance(23 * 60 + 29)  # 09:59 next day: nothing new
        assert (await privately(h))["赵书记"] == []
        await h.advance(1)  # 10:00: the solution deadline: the community hears of it
        assert await privately(h) == {
            **{n: [] for n in OFFICERS},
            "王红管": [REMIND],
            "李网格": [TO_GRID],
            "赵书记": [TO_COMMUNITY],
        }
        [t] = await h.tickets()
        assert t["rung"] == 2
        evs = await events(h)
        assert [k for k, _ in evs] == ["created", "reminded", "escalated", "escalated"]
        assert evs[2][1] is not None and (evs[2][1]["from"], evs[2][1]["to"]) == (0, 1)
        assert evs[3][1] is not None and (evs[3][1]["from"], evs[3][1]["to"]) == (1, 2)

        # a day later still unsolved: the street; then the district; then no more
        await h.advance(24 * 60)
        [street] = await h.private("钱主任")
        assert street.startswith("🔺工单 #1001 已升级到街道：办结时限已过（应在11月25日 10:00前）")
        await h.advance(24 * 60)
        assert len(await h.private("吴科长")) == 1
        await h.advance(3 * 24 * 60)
        assert [k for k, _ in await events(h)].count("escalated") == 4
        assert (await h.tickets())[0]["rung"] == 4


async def test_claimed_ticket_reminds_the_assignee_not_the_stewards(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url, quiet_settings(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        now = h.bot.services.clock.now()

        def claim(session):  # type: ignore[no-untyped-def]
            from handlers.sla import record_response, refresh_deadline

            t = session.exec(select(Ticket)).one()
            t.status, t.assignee_id = "claimed", "wxid_liwangge"
            record_response(t, now, h.bot.services.settings)
            refresh_deadline(t, h.bot.services.settings)
            session.add(t)

        await h.db.run(claim)
        await h.advance(20)
        assert len(await h.bot_lines(ROOM3)) == 1  # the response was in time
        await h.advance(10)  # 10:30: no plan
        lines = await h.bot_lines(ROOM3)
        assert lines[-1] == (
            "@李网格\u2005⏰提醒：工单 #1001【设施维修】3号楼2单元楼道的方案时限已过"
            "（应在11月23日 10:30前），请尽快处理：发送“#方案 1001 处理方案”"
        )
        assert await h.private("王红管") == []
        assert len(await h.private("李网格")) == 1


async def test_quiet_hours_hold_a_reminder_until_seven(sqlite_url: str, tmp_path: Path) -> None:
    start = local(2026, 11, 23, 21, 50)
    async with running_bot(sqlite_url, quiet_settings(tmp_path), start=start) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        await h.advance(20)  # 22:10: inside quiet hours
        assert len(await h.bot_lines(ROOM3)) == 1
        [private] = await private_entries(h, "王红管")  # private chat does not wait
        assert at_local(private) == "11-23 22:10"
        await h.advance(8 * 60 + 49)  # 06:59
        assert len(await h.bot_lines(ROOM3)) == 1
        await h.advance(1)  # 07:00
        room = await h.room(ROOM3)
        bot = [m for m in room if m["from_bot"]]
        assert len(bot) == 2 and "响应时限已过" in bot[1]["text"]
        assert at_local(bot[1]) == "11-24 07:00"


async def test_urgent_ticket_goes_through_quiet_hours_and_to_every_rung(
    sqlite_url: str, tmp_path: Path
) -> None:
    start = local(2026, 11, 23, 23, 0)
    async with running_bot(sqlite_url, quiet_settings(tmp_path), start=start) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元煤气味很重，像是煤气泄漏")
        [t] = await h.tickets()
        assert t["urgent"]
        # at once, every rung that can act for this building hears of it
        for name in ("王红管", "李网格", "赵书记", "钱主任", "吴科长"):
            [msg] = await h.private(name)
            assert msg.startswith("🚨紧急工单 #1001【安全隐患】")
        assert await h.private("孙管家") == [] and await h.private("周网格") == []
        await h.advance(20)  # 23:20: the reminder is posted in the group at once
        room = [m for m in await h.room(ROOM3) if m["from_bot"]]
        assert len(room) == 2 and "响应时限已过" in room[1]["text"]
        assert at_local(room[1]) == "11-23 23:20"
        assert [k for k, _ in await events(h)] == ["created", "alerted", "reminded"]


async def test_restart_between_deadline_and_reminder_sends_one_reminder(
    db_url: str, tmp_path: Path
) -> None:
    sqlite_url = db_url
    settings = quiet_settings(tmp_path)
    async with running_bot(sqlite_url, settings) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        await h.advance(19)
    # the process was down at 10:20; it comes back at 10:25 and catches up
    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 10, 25)) as h:
        await h.advance(0)
        assert [x for x in await h.bot_lines(ROOM3) if "时限已过" in x] == [
            "@王红管\u2005" + REMIND
        ]
        assert await h.private("王红管") == [REMIND]
    # and a second process (or a second start) at the same moment sends nothing again
    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 10, 26)) as h:
        await h.advance(0)
        assert await h.bot_lines(ROOM3) == []
        assert await h.private("王红管") == []

    def rows(session):  # type: ignore[no-untyped-def]
        return [
            (o.key.split(":")[0], o.status)
            for o in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))
        ]

    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 10, 27)) as h:
        stored = await h.db.run(rows)
        assert [r for r in stored if r[0] == "remind"] == [("remind", "sent")] * 2
        assert [k for k, _ in await events(h)] == ["created", "reminded"]


async def test_crash_after_reminder_was_decided_but_before_it_was_sent(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path)
    async with running_bot(sqlite_url, settings) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        h.sim.fail_sends = 1000  # the reminder is queued, the send never succeeds
        await h.advance(20)
        assert len(await h.bot_lines(ROOM3)) == 1
    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 10, 22)) as h:
        await h.advance(0)
        assert [x for x in await h.bot_lines(ROOM3) if "时限已过" in x] == [
            "@王红管\u2005" + REMIND
        ]
        assert await h.private("王红管") == [REMIND]
        await h.advance(1)
        assert len(await h.bot_lines(ROOM3)) == 1


async def test_two_processes_on_one_database_send_one_reminder(db_url: str, tmp_path: Path) -> None:
    import asyncio

    settings = quiet_settings(tmp_path)
    async with running_bot(db_url, settings) as a, running_bot(db_url, settings) as b:
        await a.say(ROOM3, "张阿姨", COMPLAINT)
        await asyncio.gather(a.advance(31), b.advance(31))
        reminders = [x for h in (a, b) for x in await h.bot_lines(ROOM3) if "时限已过" in x]
        assert reminders == ["@王红管\u2005" + REMIND]
        assert len(await a.private("王红管")) + len(await b.private("王红管")) == 1
        assert len(await a.private("李网格")) + len(await b.private("李网格")) == 1
        kinds = [k for k, _ in await events(a)]
        assert kinds == ["created", "reminded", "escalated"]


async def test_resolved_ticket_not_rated_is_closed_automatically(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url, quiet_settings(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        await h.advance(5)
        settings = h.bot.services.settings
        now = h.bot.services.clock.now()

        def resolve(session):  # type: ignore[no-untyped-def]
            from handlers.sla import record_resolution, record_response, refresh_deadline

            t = session.exec(select(Ticket)).one()
            t.status, t.assignee_id, t.plan_at = "resolved", "wxid_wanghongguan", now
            record_response(t, now, settings)
            record_resolution(t, now, settings)
            refresh_deadline(t, settings)
            session.add(t)

        await h.db.run(resolve)
        await h.advance(72 * 60 - 1)
        assert (await h.tickets())[0]["status"] == "resolved"
        await h.advance(1)
        [t] = await h.tickets()
        assert (t["status"], t["next_deadline_kind"]) == ("closed", None)
        assert [k for k, _ in await events(h)] == ["created", "closed"]
        assert await h.private("王红管") == []  # nothing was overdue
