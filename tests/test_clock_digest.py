"""The daily digest equals what the stored tickets say; 日报/统计/逾期; the monthly report."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.__main__ import main as cli
from handlers.sla import record_resolution, record_response, refresh_deadline
from storage.models import Message, PossibleComplaint, Ticket
from tests.clock_helpers import ROOM3, ROOM5, TZ, local, private_entries, quiet_settings
from tests.harness import Harness, running_bot

ROOM1 = "阳光花园1号楼业主群"


async def step(h: Harness, number: int, what: str, **extra: Any) -> None:
    """Move a ticket on, as the ticket commands will (they land from the tickets branch)."""
    settings = h.bot.services.settings
    now = h.bot.services.clock.now()

    def work(session):  # type: ignore[no-untyped-def]
        t = session.exec(select(Ticket).where(Ticket.number == number)).one()
        if what == "claim":
            t.status, t.assignee_id = "claimed", extra.get("by", "wxid_wanghongguan")
            record_response(t, now, settings)
        elif what == "plan":
            t.status, t.plan_at = "planned", now
        elif what == "resolve":
            t.status = "resolved"
            record_resolution(t, now, settings)
        elif what == "rate":
            t.status, t.rating, t.closed_at = "closed", extra["rating"], now
        refresh_deadline(t, settings)
        t.updated_at = now
        session.add(t)

    await h.db.run(work)


async def build_a_day(h: Harness) -> None:
    """Monday 2026-11-23 from 10:00, then Tuesday morning."""
    await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")  # 1001
    await h.say(ROOM3, "李大爷", "3号楼门口垃圾没人清理，都臭了")  # 1002: nobody touches it
    await h.say(ROOM5, "小刘", "5号楼电梯坏了")  # 1003: claimed late
    await h.say(ROOM1, "王阿姨", "1号楼停水了")  # 1004
    await h.say(ROOM3, "赵大妈", "收到，谢谢")
    await h.advance(5)
    await step(h, 1001, "claim")
    await step(h, 1004, "claim")
    await h.advance(10)
    await step(h, 1001, "plan")
    await h.advance(25)  # 10:40
    await step(h, 1003, "claim", by="wxid_sunguanjia")
    await h.advance(80)  # 12:00
    await step(h, 1001, "resolve")
    await step(h, 1004, "resolve")
    await h.advance(60)
    await step(h, 1001, "rate", rating="满意")
    await step(h, 1004, "rate", rating="不满意")
    now = h.bot.services.clock.now()
    b3 = h.bot.services.directory.current.find_building("阳光花园", "3号楼")
    assert b3 is not None

    def unsure(session):  # type: ignore[no-untyped-def]
        m = session.exec(select(Message).where(Message.text == "收到，谢谢")).one()
        session.add(
            PossibleComplaint(
                message_id=m.id,
                room_id="room-yg-3",
                building_id=b3.id,
                community_id=b3.community_id,
                sender_id=m.sender_id,
                text="楼上天天晚上拖椅子 13812345678",
                category="order",
                confidence=0.4,
                created_at=now,
            )
        )

    await h.db.run(unsure)
    await h.advance(19 * 60)  # Tuesday 07:00
    await h.say(ROOM5, "小陈", "5号楼门口车位被占了")  # 1005: today, not in yesterday's figures
    await h.advance(90)  # 08:30


def independent(tickets: list[Ticket], now: datetime) -> dict[str, int]:
    """The figures recomputed from the rows, without storage/stats.py."""
    day = datetime(2026, 11, 23, tzinfo=TZ).date()

    def on(t: datetime | None) -> bool:
        return t is not None and t.astimezone(TZ).date() == day

    month = [
        t for t in tickets if t.created_at.astimezone(TZ).date() <= day and t.status != "cancelled"
    ]

    def late(t: Ticket) -> bool:
        c = t.created_at
        return t.status in ("new", "claimed", "planned") and (
            (t.first_response_at is None and now >= c + timedelta(minutes=20))
            or (t.plan_at is None and now >= c + timedelta(minutes=30))
            or (t.resolved_at is None and now >= c + timedelta(hours=24))
        )

    return {
        "new": sum(on(t.created_at) for t in tickets),
        "claimed": sum(on(t.first_response_at) for t in tickets),
        "resolved": sum(on(t.resolved_at) for t in tickets),
        "closed": sum(on(t.closed_at) for t in tickets),
        "overdue": sum(late(t) for t in tickets),
        "total": len(month),
        "responded": sum(
            1
            for t in month
            if t.first_response_at and t.first_response_at <= t.created_at + timedelta(minutes=20)
        ),
        "in_time": sum(
            1
            for t in month
            if t.resolved_at and t.resolved_at <= t.created_at + timedelta(hours=24)
        ),
        "rated": sum(1 for t in month if t.rating),
        "satisfied": sum(1 for t in month if t.rating in ("满意", "基本满意")),
    }


def parse(text: str) -> dict[str, int]:
    m = re.search(r"昨日：新增 (\d+) 件，认领 (\d+) 件，办结 (\d+) 件，结案 (\d+) 件", text)
    assert m, text
    o = re.search(r"逾期未办 (\d+) 件", text)
    r = re.search(
        r"本月累计 (\d+) 件：响应率 \d+%（(\d+)/\d+），办结率 \d+%（(\d+)/\d+），"
        r"满意率 \d+%（(\d+)/(\d+)）",
        text,
    )
    assert r, text
    return {
        "new": int(m[1]),
        "claimed": int(m[2]),
        "resolved": int(m[3]),
        "closed": int(m[4]),
        "overdue": int(o[1]) if o else 0,
        "total": int(r[1]),
        "responded": int(r[2]),
        "in_time": int(r[3]),
        "satisfied": int(r[4]),
        "rated": int(r[5]),
    }


async def test_digest_figures_equal_the_stored_tickets(db_url: str, tmp_path: Path) -> None:
    settings = quiet_settings(tmp_path, digest=True)
    async with running_bot(db_url, settings) as h:
        await build_a_day(h)
        entries = [
            e for e in await private_entries(h, "赵书记") if "日报" in e["text"] or "image" in e
        ]
        assert len(entries) == 2
        digest, chart = entries
        assert digest["text"].startswith("【华福社区 日报】11月23日（周一）\n")
        assert datetime.fromisoformat(digest["time"]) == local(2026, 11, 24, 8, 30)

        def rows(session):  # type: ignore[no-untyped-def]
            return list(session.exec(select(Ticket)))

        tickets = await h.db.run(rows)
        figures = independent(tickets, local(2026, 11, 24, 8, 30))
        assert parse(digest["text"]) == figures
        assert figures == {
            "new": 4, "claimed": 3, "resolved": 2, "closed": 2, "overdue": 3, "total": 4,
            "responded": 2, "in_time": 2, "rated": 2, "satisfied": 1,
        }  # fmt: skip
        text = digest["text"]
        # reminded at 10:20, escalated to the grid at 10:30; the community at 10:00 today
        assert "· #1002【环境卫生】阳光花园3号楼 响应超时，在网格员" in text
        assert "问题最多：设施维修 2、" in text
        assert "报事最多的楼栋：" in text and "阳光花园3号楼 2" in text
        assert "可能的投诉（待确认）1 条：" in text and "138****5678" in text
        assert "13812345678" not in text
        assert chart["text"] == "近14天工单趋势图" and chart["image"].endswith(".png")
        [png] = (tmp_path / "media" / "digest").glob("*.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # the other communities' officers and the stewards get no digest
        assert not [x for x in await h.private("王红管") if "日报" in x]
        # a second run of the same morning sends nothing again
        await h.bot.timekeeper.tick()
        assert len([e for e in await private_entries(h, "赵书记") if "日报" in e["text"]]) == 1


async def test_officer_commands_cover_their_area(sqlite_url: str, tmp_path: Path) -> None:
    settings = quiet_settings(tmp_path)
    async with running_bot(sqlite_url, settings) as h:
        await build_a_day(h)
        # 日报 in a group: the digest goes privately, the group is told so
        await h.say(ROOM3, "钱主任", "#日报")
        assert (await h.bot_lines(ROOM3))[-1] == "@钱主任\u2005日报已私信发给您。"
        got = await private_entries(h, "钱主任")
        texts = [e["text"] for e in got]
        assert texts[-2].startswith("【华福社区 日报】11月23日（周一）")
        assert texts[-1] == "近14天工单趋势图" and got[-1]["image"].endswith(".png")

        await h.say(None, "吴科长", "#统计")
        stats = (await h.private("吴科长"))[-1]
        assert stats.startswith("【华福社区 11月统计】")
        assert "新增 5 件，认领 3 件，办结 2 件，结案 2 件，当前逾期 3 件" in stats
        assert "响应率 40%（2/5），办结率 40%（2/5），满意率 50%（1/2）" in stats

        await h.say(None, "赵书记", "＃逾期")
        overdue = (await h.private("赵书记"))[-1]
        assert overdue.startswith("逾期工单 3 件（最早的在前）：")
        assert "#1002【环境卫生】阳光花园3号楼 响应应在11月23日 10:20前" in overdue
        assert "#1003【设施维修】和平新村5号楼 方案应在11月23日 10:30前" in overdue

        # a resident and a steward may not; nothing is sent privately to them
        await h.say(ROOM3, "张阿姨", "#日报")
        refusal = (await h.bot_lines(ROOM3))[-1]
        assert "只有" in refusal and "社区书记" in refusal
        assert await h.private("张阿姨") == []
        await h.say(None, "王红管", "#逾期")
        assert "只有" in (await h.private("王红管"))[-1]


async def test_monthly_report_is_sent_on_the_first_and_written_by_the_cli(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path, report=True)
    async with running_bot(sqlite_url, settings) as h:
        await build_a_day(h)
        await h.advance(
            (datetime(2026, 12, 1, 1, 0, tzinfo=UTC) - h.bot.services.clock.now()).total_seconds()
            / 60
        )
        [sent] = [e for e in await private_entries(h, "赵书记") if "月报" in e["text"]]
        assert sent["text"].startswith("《华福社区 2026年11月物业投诉月报》已生成")
        assert sent["image"] == "/media/物业投诉月报-华福社区-2026-11.xlsx"
    path = tmp_path / "reports" / "物业投诉月报-华福社区-2026-11.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames == ["台账", "汇总", "红黑榜"]
    ledger = list(wb["台账"].iter_rows(values_only=True))
    assert [r[0] for r in ledger[1:]] == [1001, 1002, 1003, 1004, 1005]
    row = dict(zip(ledger[0], ledger[1], strict=True))
    assert row["评价"] == "满意" and row["按时响应"] == "是" and row["状态"] == "已结案"
    assert "created" in str(row["处理过程"])
    summary = [r for r in wb["汇总"].iter_rows(values_only=True) if r and r[0]]
    assert ("全部", 5, 2, "40%", 2, "40%", 2, 1, "50%") in summary
    ranking = list(wb["红黑榜"].iter_rows(values_only=True))
    assert [r[1] for r in ranking[1:3]] == ["阳光花园", "和平新村"]

    out = tmp_path / "cli.xlsx"
    assert (
        cli(
            ["report", "--month", "2026-11", "--out", str(out), "--db", sqlite_url],
            configure_logging=False,
        )
        == 0
    )
    again = load_workbook(out)
    assert [r[0] for r in list(again["台账"].iter_rows(values_only=True))[1:]] == [
        1001,
        1002,
        1003,
        1004,
        1005,
    ]
    assert (
        cli(
            ["report", "--month", "2026-13", "--out", str(out), "--db", sqlite_url],
            configure_logging=False,
        )
        == 2
    )


def test_chart_without_a_cjk_font_falls_back_to_plain_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from handlers import officers

    monkeypatch.setattr(officers, "_cjk_font", lambda: None)
    series = [(date(2026, 11, d), d % 3, d % 2) for d in range(10, 24)]
    out = officers.render_chart(series, tmp_path / "c.png", "华福社区")
    assert out is not None and out.read_bytes()[:4] == b"\x89PNG"


async def test_help_lists_the_officer_commands_only_to_officers(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url, quiet_settings(tmp_path)) as h:
        await h.say(None, "赵书记", "#帮助")
        officer = (await h.private("赵书记"))[-1]
        assert "· 日报：" in officer and "· 统计：" in officer and "· 逾期：" in officer
        await h.say(None, "张阿姨", "#帮助")
        resident = (await h.private("张阿姨"))[-1]
        assert "日报" not in resident and "逾期" not in resident
