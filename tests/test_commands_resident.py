"""The resident's commands: 附议, 撤销, 评价, 我的工单 — allowed, refused, malformed, seen."""

from __future__ import annotations

from loguru import logger

from tests.commands_support import ROOM3, ROOM5, complaint, events, unchanged
from tests.harness import Harness


async def _resolved(h: Harness) -> int:
    n = await complaint(h)
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#办结 {n} 已更换灯泡")
    return n


async def test_second_counts_residents_and_makes_a_ticket_major(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "李大爷", f"#附议 {n}")
    room = await h.room(ROOM3)
    assert room[-1]["mentions"] == ["sim_李大爷"]
    assert "共有 2 位居民反映" in room[-1]["text"]
    t = await h.ticket(n)
    assert (t["reporters"], t["major"]) == (2, False)
    await h.say(None, "王阿姨", "/metoo #1001")
    assert "共有 3 位居民反映" in (await h.private("王阿姨"))[-1]
    t = await h.ticket(n)
    assert (t["reporters"], t["major"]) == (3, True)
    assert await events(h, n) == ["created", "seconded", "seconded"]
    # the same resident again changes nothing and says so
    assert "您已反映过" in await unchanged(h, ROOM3, "李大爷", "#附议 1001")
    assert "您已反映过" in await unchanged(h, ROOM3, "张阿姨", "#附议 1001")
    assert "用法：#附议" in await unchanged(h, ROOM3, "李大爷", "#附议")
    assert "没有找到" in await unchanged(h, ROOM3, "李大爷", "#附议 4242")


async def test_second_refused_once_resolved(harness: Harness) -> None:
    h = harness
    n = await _resolved(h)
    assert "不能再附议" in await unchanged(h, ROOM3, "李大爷", f"#附议 {n}")


async def test_second_as_the_intake_does_it(harness: Harness) -> None:
    """附议 N and a duplicate complaint leave the same bookkeeping."""
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "李大爷", "3号楼2单元楼道灯也坏了，黑乎乎的")
    await h.say(ROOM3, "王阿姨", f"#附议 {n}")
    t = await h.ticket(n)
    assert len(await h.tickets()) == 1
    assert (t["reporters"], t["major"]) == (3, True)
    assert await events(h, n) == ["created", "seconded", "seconded"]


async def test_cancel_only_by_the_reporter_before_resolution(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "李大爷", f"#附议 {n}")
    assert "只有反映问题的居民本人" in await unchanged(h, ROOM3, "李大爷", f"#撤销 {n}")
    assert "只有反映问题的居民本人" in await unchanged(h, ROOM3, "王红管", f"#撤销 {n}")
    assert "用法：#撤销" in await unchanged(h, ROOM3, "张阿姨", "#撤销 一零零一")
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "张阿姨", f"/cancel {n}")
    room = await h.room(ROOM3)
    assert "已按您的要求撤销" in room[-1]["text"]
    assert room[-1]["mentions"] == ["sim_张阿姨", "sim_李大爷"]
    assert "无需再处理" in (await h.private("王红管"))[-1]
    t = await h.ticket(n)
    assert t["status"] == "cancelled" and t["cancelled_at"] and t["next_deadline_at"] is None
    assert "已撤销" in await unchanged(h, ROOM3, "张阿姨", f"#撤销 {n}")


async def test_cancel_refused_after_resolution(harness: Harness) -> None:
    h = harness
    n = await _resolved(h)
    assert "不能撤销" in await unchanged(h, ROOM3, "张阿姨", f"#撤销 {n}")


async def test_rating_satisfied_closes(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    assert "现在还不能评价" in await unchanged(h, ROOM3, "张阿姨", f"#评价 {n} 满意")
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#办结 {n} 已更换灯泡")
    assert "只有反映这个问题的居民" in await unchanged(h, ROOM3, "李大爷", f"#评价 {n} 满意")
    assert "只有反映这个问题的居民" in await unchanged(h, ROOM3, "王红管", f"#评价 {n} 满意")
    assert "用法：#评价" in await unchanged(h, ROOM3, "张阿姨", f"#评价 {n} 还行吧")
    assert "用法：#评价" in await unchanged(h, ROOM3, "张阿姨", f"#评价 {n}")
    await h.say(ROOM3, "张阿姨", f"#rate {n} 基本满意，修得挺快")
    room = await h.room(ROOM3)
    assert "感谢您的评价（基本满意）" in room[-1]["text"]
    assert room[-1]["mentions"] == ["sim_张阿姨"]
    t = await h.ticket(n)
    assert (t["status"], t["rating"]) == ("closed", "基本满意")
    assert (await h.ticket(n))["events"][-2]["detail"] == "修得挺快"
    assert "不能再评价" in await unchanged(h, ROOM3, "张阿姨", f"#评价 {n} 满意")


async def test_a_seconder_may_rate(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "李大爷", f"#附议 {n}")
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#办结 {n} 好了")
    await h.say(ROOM3, "李大爷", f"#评价 {n} 满意")
    assert (await h.ticket(n))["status"] == "closed"


async def test_unsatisfied_rating_reopens_one_rung_up_with_fresh_deadlines(
    harness: Harness,
) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#方案 {n} 换灯")
    await h.advance(120)
    await h.say(ROOM3, "王红管", f"#办结 {n} 已更换灯泡")
    await h.say(ROOM3, "张阿姨", f"#评价 {n} 不满意 还是不亮")
    room = await h.room(ROOM3)
    assert "已重新打开并报网格跟进" in room[-1]["text"]
    assert room[-1]["mentions"] == ["sim_张阿姨"]
    t = await h.ticket(n)
    assert (t["status"], t["rung"], t["rating"]) == ("claimed", 1, "不满意")
    assert t["resolved_at"] is None and t["plan_at"] is None
    # the plan deadline counts from the reopening (12:00 local), not from the report
    assert (t["next_deadline_kind"], t["next_deadline_at"]) == ("plan", "2026-11-23T04:30:00+00:00")
    assert await events(h, n) == ["created", "claimed", "planned", "resolved", "rated", "reopened"]
    notice = (await h.private("李网格"))[-1]
    assert "升级到网格" in notice and "还是不亮" in notice
    assert "升级到网格" in (await h.private("王红管"))[-1]
    # fixed again, then satisfied
    await h.say(ROOM3, "王红管", f"#方案 {n} 换整套灯具")
    await h.say(ROOM3, "王红管", f"#办结 {n} 已换灯具")
    await h.say(ROOM3, "张阿姨", f"#评价 {n} 满意")
    assert (await h.ticket(n))["status"] == "closed"


async def test_my_tickets_lists_open_first_with_local_deadlines(harness: Harness) -> None:
    h = harness
    assert "还没有反映过" in await unchanged(h, ROOM3, "张阿姨", "#我的工单")
    n = await complaint(h)
    await h.say(ROOM5, "张阿姨", "5号楼门口垃圾没人清理")
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    await h.say(ROOM3, "王红管", f"#办结 {n} 好了")
    await h.say(ROOM3, "张阿姨", f"#评价 {n} 满意")
    await h.say(ROOM3, "张阿姨", "/mine")
    text = (await h.bot_lines(ROOM3))[-1]
    assert text.startswith("@张阿姨") and "共 2 条" in text
    assert text.index("#1002") < text.index("#1001")
    assert "11-23 10:20 回应" in text and "502" not in text
    await h.say(None, "张阿姨", "#我的工单")
    assert "502" in (await h.private("张阿姨"))[-1]
    assert "用法：#我的工单" in await unchanged(h, ROOM3, "张阿姨", "#我的工单 1001")


async def test_refused_command_with_a_phone_number_is_logged_masked(harness: Harness) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    try:
        await harness.say(ROOM3, "张阿姨", "#附议 电话13812345678")
    finally:
        logger.remove(sink)
    assert any("refused" in line for line in lines)
    assert not any("13812345678" in line for line in lines)


async def test_the_assignee_cannot_second_their_own_ticket(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "王红管", f"#接单 {n}")
    assert "由您负责处理" in await unchanged(h, ROOM3, "王红管", f"#附议 {n}")
