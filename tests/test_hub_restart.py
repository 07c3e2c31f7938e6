"""The hub keeps its data through a restart: drafts, scheduled notices, open votes, ballots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from config.schema import HouseholdConfig
from storage.models import Ballot, Notice
from tests.clock_helpers import quiet_settings
from tests.harness import START, later, running_bot

ROOM3 = "阳光花园3号楼业主群"
YG = ["阳光花园1号楼业主群", "阳光花园2号楼业主群", ROOM3]


def settings(tmp: Path) -> Any:
    regs = [
        HouseholdConfig(compound="阳光花园", building="3号楼", room=r, area=100, owners=[o])
        for r, o in (("1-101", "张阿姨"), ("1-102", "李大爷"), ("2-201", "王阿姨"))
    ]
    return quiet_settings(tmp, households=regs)


def notices(session: Any) -> list[tuple[int | None, str]]:
    return [(n.id, n.status) for n in session.exec(select(Notice).order_by(Notice.id))]


async def test_stop_and_start_mid_vote_and_mid_scheduled_notice(
    sqlite_url: str, tmp_path: Path
) -> None:
    s = settings(tmp_path)
    async with running_bot(sqlite_url, s, START) as h:
        await h.say(None, "赵书记", "#通知 阳光花园 明早9点停车场划线，请挪车 于 2026-11-24 08:00")
        await h.say(None, "赵书记", "#确认")
        await h.say(None, "赵书记", "#通知 阳光花园3号楼 下午检查楼道杂物")  # a draft
        await h.say(
            None,
            "管理员",
            "#表决 阳光花园3号楼 是否同意设置快递柜 选项 同意/不同意 截止 2026-11-24 18:00",
        )
        await h.say(ROOM3, "张阿姨", "#投票 1 1")
        await h.say(ROOM3, "李大爷", "#投票 1 2")
        assert await h.db.run(notices) == [(1, "scheduled"), (2, "draft")]

    # back ten minutes later: the draft can still be confirmed, the ballots are there
    async with running_bot(sqlite_url, s, later(10)) as h:
        await h.say(None, "赵书记", "#确认")
        assert (await h.private("赵书记"))[-1] == (
            "好的，通知 #2 已开始发送到 1 个群，全部发出后告诉您结果。"
        )
        assert await h.bot_lines(ROOM3) == ["📢下午检查楼道杂物"]
        await h.say(None, "李大爷", "#投票 1 1")  # changes his household's ballot
        assert (await h.private("李大爷"))[-1].endswith("表决 #1 已有 2 户参与投票（登记 3 户）。")
        await h.advance(60)
        assert (await h.private("赵书记"))[-1] == "通知 #2 发送结果：已送达 1/1 个群。"

    # down over the scheduled moment: the notice goes out once when the bot is back
    async with running_bot(sqlite_url, s, later(23 * 60 + 30)) as h:  # 09:30 next day
        await h.advance(0)
        for room in YG:
            assert await h.bot_lines(room) == ["📢明早9点停车场划线，请挪车"], room
        await h.advance(1)
        assert (await h.private("赵书记"))[-1] == (
            "通知 #1 发送结果：已送达 3/3 个群。（因机器人停机，比计划晚 90 分钟发出）"
        )
        assert await h.db.run(notices) == [(1, "done"), (2, "done")]

    # and down over the vote's deadline: the result is posted once when it is back
    async with running_bot(sqlite_url, s, later(33 * 60)) as h:  # 19:00 next day
        await h.advance(0)
        results = [x for x in await h.bot_lines(ROOM3) if "已截止" in x]
        assert len(results) == 1
        assert "1. 同意：2 户（100.0%），面积 200.0㎡（100.0%）" in results[0]
        assert results[0].endswith("结论：「同意」获得通过")
        await h.advance(60)
        assert len([x for x in await h.bot_lines(ROOM3) if "已截止" in x]) == 1
        # the notice is not sent again
        assert not any("停车场划线" in x for x in await h.bot_lines(YG[0]))

        def rows(session: Any) -> list[tuple[str, int]]:
            return sorted((b.household, b.option) for b in session.exec(select(Ballot)))

        assert await h.db.run(rows) == [("阳光花园3号楼1-101", 1), ("阳光花园3号楼1-102", 1)]
