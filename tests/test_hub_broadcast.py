"""通知: one notice to many groups — preview, 确认/取消, schedule, roles, delivery report."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot.channel import ChannelError, Outgoing
from bot.simulator import SimChannel
from storage.models import Notice, NoticeDelivery, OutboxMessage, Ticket
from tests.harness import Harness

YG = ["阳光花园1号楼业主群", "阳光花园2号楼业主群", "阳光花园3号楼业主群"]
HP = ["和平新村5号楼业主群", "和平新村6号楼业主群"]
ROOM3 = "阳光花园3号楼业主群"


def notices(session: Any) -> list[tuple[int | None, str, str, list[str]]]:
    return [(n.id, n.status, n.scope, n.rooms) for n in session.exec(select(Notice))]


def deliveries(session: Any) -> list[tuple[str, str, int, str | None]]:
    return sorted(
        (d.room_id, d.status, d.attempts, d.error) for d in session.exec(select(NoticeDelivery))
    )


async def group_posts(h: Harness, rooms: list[str]) -> dict[str, list[str]]:
    return {r: await h.bot_lines(r) for r in rooms}


async def test_preview_then_confirm_reaches_every_group_of_the_compound_and_reports(
    harness_any: Harness,
) -> None:
    h = harness_any
    await h.say(None, "赵书记", "#通知 阳光花园 明天上午9点在3号楼前开展义诊，欢迎参加")
    assert await h.private("赵书记") == [
        "通知预览（#1）——范围：阳光花园，共 3 个群：\n"
        "📢明天上午9点在3号楼前开展义诊，欢迎参加\n"
        "回复“#确认”发送，回复“#取消”放弃（30分钟内有效）。"
    ]
    assert await group_posts(h, YG) == {r: [] for r in YG}  # nothing before 确认
    await h.say(None, "赵书记", "#确认")
    assert (await h.private("赵书记"))[
        -1
    ] == "好的，通知 #1 已开始发送到 3 个群，全部发出后告诉您结果。"
    assert await group_posts(h, YG) == {r: ["📢明天上午9点在3号楼前开展义诊，欢迎参加"] for r in YG}
    assert await group_posts(h, HP) == {r: [] for r in HP}
    await h.advance(1)
    assert (await h.private("赵书记"))[-1] == "通知 #1 发送结果：已送达 3/3 个群。"
    assert await h.db.run(notices) == [
        (1, "done", "阳光花园", ["room-yg-1", "room-yg-2", "room-yg-3"])
    ]
    assert [(r, s) for r, s, _, _ in await h.db.run(deliveries)] == [
        ("room-yg-1", "sent"),
        ("room-yg-2", "sent"),
        ("room-yg-3", "sent"),
    ]

    def keys(session: Any) -> list[str]:
        return sorted(o.key for o in session.exec(select(OutboxMessage)) if o.room_id)

    assert await h.db.run(keys) == [f"notice:1:room-yg-{i}" for i in (1, 2, 3)]
    await h.advance(120)  # the report is sent once
    assert sum("发送结果" in x for x in await h.private("赵书记")) == 1


async def test_a_list_range_and_a_building(harness: Harness) -> None:
    h = harness
    await h.say(None, "管理员", "#通知 阳光花园3号楼、和平新村 今晚8点消防演练")
    assert "共 3 个群" in (await h.private("管理员"))[-1]
    await h.say(None, "管理员", "#确认")
    posts = await group_posts(h, YG + HP)
    assert [r for r, lines in posts.items() if lines] == [ROOM3, *HP]


async def test_template_fills_the_blanks_and_names_the_range(harness: Harness) -> None:
    h = harness
    await h.say(
        None, "赵书记", "#通知 阳光花园3号楼 停水 时间：11月24日 8:00-18:00 原因：二次供水水箱清洗"
    )
    await h.say(None, "赵书记", "#确认")
    assert await h.bot_lines(ROOM3) == [
        "【停水通知】因二次供水水箱清洗，阳光花园3号楼将于11月24日 8:00-18:00停水，"
        "请各位业主提前做好储水准备。给您带来不便，敬请谅解。"
    ]
    # 模板 word, unnamed first field; a missing field is a usage answer
    await h.say(None, "赵书记", "#通知 阳光花园 模板 电梯维保 11月26日 9:00-11:00")
    assert (
        "【电梯维保通知】阳光花园电梯将于11月26日 9:00-11:00进行维护保养"
        in (await h.private("赵书记"))[-1]
    )
    await h.say(None, "赵书记", "#通知 阳光花园 模板 消防检查")
    assert (await h.private("赵书记"))[-1].startswith(
        "格式不对：缺少时间。用法：#通知 范围 消防检查 时间：…"
    )
    await h.say(None, "赵书记", "#通知模板")
    listing = (await h.private("赵书记"))[-1]
    assert all(
        f"· {n}：#通知 范围 {n} 时间：…" in listing
        for n in ("停水", "停电", "消防检查", "电梯维保")
    )


async def test_scheduled_notice_waits_for_its_moment(harness: Harness) -> None:
    h = harness
    await h.say(None, "钱主任", "#通知 燕山街道 明早8点起开展垃圾分类入户宣传 于 2026-11-24 07:30")
    assert "定时11月24日 07:30发送" in (await h.private("钱主任"))[-1]
    await h.say(None, "钱主任", "#确认")
    assert (await h.private("钱主任"))[-1] == (
        "好的，通知 #1 将于11月24日 07:30发送到 5 个群，发出后告诉您结果。"
    )
    await h.advance(21 * 60 + 29)  # 07:29 next day
    assert await group_posts(h, YG + HP) == {r: [] for r in YG + HP}
    await h.advance(2)
    posts = await group_posts(h, YG + HP)
    assert all(lines == ["📢明早8点起开展垃圾分类入户宣传"] for lines in posts.values()), posts
    assert (await h.private("钱主任"))[-1] == "通知 #1 发送结果：已送达 5/5 个群。"


async def test_a_scheduled_notice_can_be_cancelled_before_it_goes(harness: Harness) -> None:
    h = harness
    await h.say(None, "赵书记", "#通知 阳光花园 周末停车场划线 于 明天 09:00")
    await h.say(None, "赵书记", "#确认")
    await h.say(None, "赵书记", "#取消通知 1")
    assert (await h.private("赵书记"))[-1] == "好的，通知 #1 已取消，不会发送。"
    await h.advance(26 * 60)
    assert await group_posts(h, YG) == {r: [] for r in YG}
    assert [s for _, s, _, _ in await h.db.run(notices)] == ["cancelled"]


async def test_cancel_drops_the_draft_and_cancel_with_a_number_still_withdraws_a_ticket(
    harness: Harness,
) -> None:
    h = harness
    await h.say(None, "赵书记", "#通知 华福社区 测试")
    await h.say(None, "赵书记", "#取消")
    assert (await h.private("赵书记"))[-1] == "好的，通知 #1 已取消，不会发送。"
    await h.say(None, "赵书记", "#确认")
    assert (await h.private("赵书记"))[-1].startswith("没有等待确认的通知")
    assert await group_posts(h, YG + HP) == {r: [] for r in YG + HP}
    # the older meaning of 取消 N
    await h.say(ROOM3, "张阿姨", "#报修 3号楼电梯坏了")
    await h.say(ROOM3, "张阿姨", "#取消 1001")

    def status(session: Any) -> list[str]:
        return [t.status for t in session.exec(select(Ticket))]

    assert await h.db.run(status) == ["cancelled"]


async def test_a_draft_expires_after_the_confirm_window(harness: Harness) -> None:
    h = harness
    await h.say(None, "赵书记", "#通知 阳光花园 测试")
    await h.advance(31)
    await h.say(None, "赵书记", "#确认")
    assert (await h.private("赵书记"))[-1].startswith("没有等待确认的通知")
    assert [s for _, s, _, _ in await h.db.run(notices)] == ["expired"]


@pytest.mark.parametrize(
    ("sender", "text", "answer"),
    [
        ("王红管", "#通知 和平新村 停电", "和平新村5号楼、和平新村6号楼不在您负责的范围内"),
        ("赵书记", "#通知 幸福小区 x", "没有找到范围“幸福小区”"),
        (
            "张阿姨",
            "#通知 阳光花园 x",
            "只有红色管家、网格员、社区书记、街道干部、区县干部、管理员可以使用",
        ),
        (
            "赵书记",
            "#通知 阳光花园 x 于 2026-11-20 09:00",
            "定时发送的时间（11月20日 09:00）已经过了",
        ),
        ("赵书记", "#通知 阳光花园 x 于 后年", "看不懂时间"),
        ("赵书记", "#通知 阳光花园", "缺少内容"),
    ],
)
async def test_refused_notices_change_nothing(
    harness: Harness, sender: str, text: str, answer: str
) -> None:
    h = harness
    await h.say(None, sender, text)
    assert await h.db.run(notices) == []
    assert answer in (await h.private(sender))[-1]


async def test_a_steward_notifies_their_own_buildings_and_only_from_private_chat(
    harness: Harness,
) -> None:
    h = harness
    await h.say(None, "王红管", "#通知 阳光花园2号楼 今天下午清洗二次供水水箱")
    assert "共 1 个群" in (await h.private("王红管"))[-1]
    await h.say(ROOM3, "王红管", "#通知 阳光花园3号楼 x")
    assert (await h.bot_lines(ROOM3))[-1].endswith("请私信我发送群发通知，预览确认后再发到各群。")


async def test_report_names_the_group_that_failed_and_why_and_the_retried_ones(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    real_send = SimChannel.send
    tries: dict[str, int] = {}

    async def flaky(self: SimChannel, message: Outgoing) -> str | None:
        room = message.room_id or ""
        tries[room] = tries.get(room, 0) + 1
        if room == "room-hp-6":
            raise ChannelError("群已解散")
        if room == "room-yg-2" and tries[room] == 1:
            raise ChannelError("网络超时")
        return await real_send(self, message)

    monkeypatch.setattr(SimChannel, "send", flaky)
    await h.say(None, "管理员", "#通知 全部 今晚有雨雪，请注意出行安全")
    await h.say(None, "管理员", "#确认")
    await h.advance(5)
    assert not any("发送结果" in x for x in await h.private("管理员"))  # still retrying
    await h.advance(60)
    report = (await h.private("管理员"))[-1]
    assert report.startswith("通知 #1 发送结果：已送达 4/5 个群。其中 1 个群重试后送达。未送达：")
    assert "· 和平新村6号楼业主群：ChannelError: 群已解散（已尝试" in report
    rows = await h.db.run(deliveries)
    assert [(r, s) for r, s, _, _ in rows] == [
        ("room-hp-5", "sent"),
        ("room-hp-6", "failed"),
        ("room-yg-1", "sent"),
        ("room-yg-2", "sent"),
        ("room-yg-3", "sent"),
    ]
    assert dict((r, a) for r, _, a, _ in rows)["room-yg-2"] == 2


async def test_help_lists_notice_commands_to_officers_only(harness: Harness) -> None:
    h = harness
    await h.say(None, "赵书记", "#帮助")
    assert "· 通知：" in (await h.private("赵书记"))[-1]
    await h.say(None, "张阿姨", "#帮助")
    assert "· 通知：" not in (await h.private("张阿姨"))[-1]


async def test_confirmed_in_quiet_hours_it_waits_for_the_morning(sqlite_url: str) -> None:
    from tests.harness import START, later, running_bot

    async with running_bot(sqlite_url, start=later(12 * 60 + 30, START)) as h:  # 22:30
        await h.say(None, "赵书记", "#通知 阳光花园3号楼 明早8点电梯检修")
        await h.say(None, "赵书记", "#确认")
        assert (await h.private("赵书记"))[-1] == (
            "好的，通知 #1 已排队，免打扰时段结束后（11月24日 07:00）发送到 1 个群，发出后告诉您结果。"
        )
        await h.advance(8 * 60)  # 06:30
        assert await h.bot_lines(ROOM3) == []
        await h.advance(31)
        assert await h.bot_lines(ROOM3) == ["📢明早8点电梯检修"]
        assert (await h.private("赵书记"))[-1] == "通知 #1 发送结果：已送达 1/1 个群。"
