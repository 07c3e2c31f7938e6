"""The steward's and grid worker's commands, each: allowed, refused, malformed, what the group sees."""

from __future__ import annotations

import pytest

from tests.commands_support import ROOM1, ROOM3, ROOM5, complaint, events, unchanged
from tests.harness import Harness


async def test_scripted_conversation_leaves_a_closed_ticket_with_six_events(
    harness_any: Harness,
) -> None:
    h = harness_any
    n = await complaint(h)
    await h.say(ROOM3, "王红管", "#接单 1001")
    refusal = await unchanged(h, ROOM3, "张阿姨", "#接单 1001")
    assert "接单" in refusal and "红色管家" in refusal
    await h.say(ROOM3, "王红管", "#方案 1001 今天下午三点前更换灯泡")
    await h.say(ROOM3, "王红管", "#办结 1001 已更换灯泡")
    await h.say(ROOM3, "张阿姨", "#评价 1001 满意")
    t = await h.ticket(n)
    assert t["status"] == "closed" and t["rating"] == "满意"
    assert [e["kind"] for e in t["events"]] == [
        "created",
        "claimed",
        "planned",
        "resolved",
        "rated",
        "closed",
    ]
    assert all(e["message_id"] for e in t["events"])
    assert t["events"][1]["actor_id"] == "wxid_wanghongguan"
    assert t["first_response_at"] and t["plan_at"] and t["resolved_at"] and t["closed_at"]
    assert t["next_deadline_at"] is None


async def test_claim_by_the_buildings_steward_tells_the_reporter(harness: Harness) -> None:
    h = harness
    n = await complaint(h)
    await h.say(ROOM3, "王红管", f"＃接单　＃{n}")
    last = (await h.room(ROOM3))[-1]
    assert last["from_bot"] and last["mentions"] == ["sim_张阿姨"]
    assert last["text"].startswith("@张阿姨\u2005") and "红色管家王红管接单" in last["text"]
    t = await h.ticket(n)
    assert (t["status"], t["assignee_id"]) == ("claimed", "wxid_wanghongguan")
    assert t["first_response_at"] is not None and t["next_deadline_kind"] == "plan"


@pytest.mark.parametrize(
    "text", ["/claim 1001", "#接单1001", "# 接单 #1001", "／ＣＬＡＩＭ　１００１"]
)
async def test_claim_spellings(harness: Harness, text: str) -> None:
    await complaint(harness)
    await harness.say(ROOM3, "王红管", text)
    assert (await harness.ticket(1001))["status"] == "claimed"


async def test_claim_refusals_and_usage(harness: Harness) -> None:
    h = harness
    await complaint(h)
    # a resident: role refusal that says who can
    text = await unchanged(h, ROOM3, "李大爷", "#接单 1001")
    assert "红色管家" in text and "网格员" in text
    # a steward of another compound: area refusal naming who can
    text = await unchanged(h, ROOM5, "孙管家", "#接单 1001")
    assert "不在您负责的范围" in text and "王红管" in text and "李网格" in text
    # malformed
    assert "用法：#接单 工单号" in await unchanged(h, ROOM3, "王红管", "#接单")
    assert "用法" in await unchanged(h, ROOM3, "王红管", "#接单 abc")
    assert "用法" in await unchanged(h, ROOM3, "王红管", "#接单 1001 1002")
    # unknown ticket
    assert "没有找到工单 #9999" in await unchanged(h, ROOM3, "王红管", "#接单 9999")
    # claimed twice: refused, nothing changes
    await h.say(ROOM3, "王红管", "#接单 1001")
    assert "已接下" in await unchanged(h, ROOM3, "王红管", "#接单 1001")
    # another steward of the building cannot snatch it at the property rung
    assert "转派" in await unchanged(h, ROOM3, "李网格", "#接单 1001")


async def test_officers_act_in_their_area(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(None, "钱主任", "#接单 1001")
    t = await h.ticket(1001)
    assert t["assignee_id"] == "wxid_qianzhuren"
    [answer] = await h.private("钱主任")
    assert "已接单" in answer
    assert "街道干部钱主任接单" in (await h.bot_lines(ROOM3))[-1]


async def test_steward_in_private_chat_group_still_gets_the_status_line(harness: Harness) -> None:
    h = harness
    await complaint(h)
    before = len(await h.bot_lines(ROOM3))
    await h.say(None, "王红管", "#接单 1001")
    await h.say(None, "王红管", "#方案 1001 明天上午到2单元502室更换")
    group = (await h.bot_lines(ROOM3))[before:]
    assert len(group) == 2
    assert "接单" in group[0] and "@张阿姨" in group[0]
    assert "处理方案" in group[1] and "502" not in group[1] and "5xx" in group[1]
    private = await h.private("王红管")
    assert len(private) == 2 and all("已告知报事居民" in p for p in private)


async def test_acting_from_another_group_posts_in_the_tickets_group(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(ROOM1, "王红管", "#接单 1001")
    assert "已告知" in (await h.bot_lines(ROOM1))[-1]
    assert "王红管接单" in (await h.bot_lines(ROOM3))[-1]


async def test_plan_progress_resolve(harness: Harness) -> None:
    h = harness
    await complaint(h)
    # no plan before a claim
    assert "请先发送 #接单 1001" in await unchanged(h, ROOM3, "王红管", "#方案 1001 换灯")
    assert "用法：#方案" in await unchanged(h, ROOM3, "王红管", "#方案 1001")
    assert "用法：#办结" in await unchanged(h, ROOM3, "王红管", "#办结")
    assert "红色管家" in await unchanged(h, ROOM3, "李大爷", "#办结 1001 好了")
    assert "不在您负责" in await unchanged(h, ROOM5, "孙管家", "#进展 1001 在修")
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "/plan 1001 下午更换灯泡")
    assert "处理方案（红色管家王红管）：下午更换灯泡" in (await h.bot_lines(ROOM3))[-1]
    await h.say(ROOM3, "王红管", "#进展 1001 灯泡已买到")
    assert "新进展" in (await h.bot_lines(ROOM3))[-1]
    await h.say(ROOM3, "王红管", "/done 1001 已更换，恢复照明")
    room = await h.room(ROOM3)
    assert room[-1]["mentions"] == ["sim_张阿姨"]
    assert "已办结" in room[-1]["text"] and "#评价 1001 满意" in room[-1]["text"]
    t = await h.ticket(1001)
    assert t["status"] == "resolved" and t["next_deadline_kind"] == "rating"
    assert await events(h, 1001) == ["created", "claimed", "planned", "progress", "resolved"]
    # resolved: no more plans, progress or second resolution
    assert "已办结" in await unchanged(h, ROOM3, "王红管", "#办结 1001 再次")
    assert "已办结" in await unchanged(h, ROOM3, "王红管", "#进展 1001 又看了看")


async def test_transfer_only_to_someone_of_the_building(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(ROOM3, "王红管", "#接单 1001")
    text = await unchanged(h, ROOM3, "王红管", "#转派 1001 @孙管家", mentions=["孙管家"])
    assert "不是阳光花园3号楼的红色管家或网格员" in text and "李网格" in text
    assert "用法：#转派" in await unchanged(h, ROOM3, "王红管", "#转派 1001 李网格")
    assert "红色管家" in await unchanged(h, ROOM3, "李大爷", "#转派 1001 @李网格")
    await h.say(ROOM3, "王红管", "#transfer 1001 @李网格", mentions=["李网格"])
    assert "已转派给李网格" in (await h.bot_lines(ROOM3))[-1]
    [notice] = await h.private("李网格")
    assert "#接单 1001" in notice and "王红管把工单 #1001" in notice
    t = await h.ticket(1001)
    assert t["assignee_id"] == "wxid_liwangge"
    assert (await events(h, 1001))[-1] == "transferred"


async def test_escalate_up_the_ladder_and_not_beyond(harness: Harness) -> None:
    h = harness
    await complaint(h)
    assert "用法：#升级" in await unchanged(h, ROOM3, "王红管", "#升级 1001")
    assert "红色管家" in await unchanged(h, ROOM3, "李大爷", "#升级 1001 太慢")
    for who, rung, told in (
        ("李网格", 1, None),  # the grid worker is that rung himself
        ("王红管", 2, "赵书记"),
        ("王红管", 3, "钱主任"),
        ("王红管", 4, "吴科长"),
    ):
        await h.say(ROOM3, who, "#escalate 1001 需要上级协调")
        assert (await h.ticket(1001))["rung"] == rung
        if who == "李网格":
            assert "李网格（您本人）" in (await h.bot_lines(ROOM3))[-1]
        if told:
            notice = (await h.private(told))[-1]
            assert "【工单升级】#1001" in notice and "#接单 1001" in notice
            assert "需要上级协调" in notice
    assert "区县一级" in await unchanged(h, ROOM3, "王红管", "#升级 1001 再升")
    assert (await events(h, 1001)).count("escalated") == 4


async def test_escalated_ticket_can_be_taken_over_by_the_new_rung(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "#升级 1001 需要社区协调")
    await h.say(None, "赵书记", "#接单 1001")
    t = await h.ticket(1001)
    assert t["assignee_id"] == "wxid_zhaoshuji" and t["status"] == "claimed"
    assert "赵书记接手" in (await h.private("王红管"))[-1]


async def test_todo_lists_open_tickets_oldest_first_with_local_deadlines(harness: Harness) -> None:
    h = harness
    assert "没有待办" in (await unchanged(h, None, "王红管", "#待办"))
    await complaint(h)
    await h.advance(5)
    await complaint(h, who="王阿姨", text="3号楼的垃圾桶满了没人清")
    await complaint(h, ROOM5, "小刘", "5号楼门口垃圾没人清理")
    await h.say(None, "王红管", "/todo")
    text = (await h.private("王红管"))[-1]
    assert "共 2 条" in text
    assert text.index("#1001") < text.index("#1002") and "#1003" not in text
    assert "11-23 10:20 回应" in text  # 10:00 local + 20 minutes
    assert "红色管家" in await unchanged(h, ROOM3, "张阿姨", "#待办")
    assert "用法：#待办" in await unchanged(h, None, "王红管", "#待办 1001")


async def test_show_ticket_masks_residents_in_groups(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "李大爷", "#工单 1001")
    card = (await h.bot_lines(ROOM3))[-1]
    assert "工单 #1001" in card and "接单" in card and "王红管" in card
    assert "张阿姨" not in card and "502" not in card
    await h.say(ROOM3, "王红管", "#show 1001")
    card = (await h.bot_lines(ROOM3))[-1]
    assert "张阿姨" not in card and "502" not in card  # the group sees it too
    await h.say(None, "王红管", "#工单 1001")
    card = (await h.private("王红管"))[-1]
    assert "报事人：张阿姨" in card and "502" in card
    # a resident of another building, privately: not theirs to see
    assert "只能查看" in await unchanged(h, None, "小刘", "#工单 1001")
    assert "用法：#工单" in await unchanged(h, ROOM3, "李大爷", "#工单")


async def test_status_line_from_private_chat_at_night_waits_for_the_morning(
    harness: Harness,
) -> None:
    h = harness
    await complaint(h)
    await h.advance(13 * 60 + 30)  # 23:30 local
    before = len(await h.bot_lines(ROOM3))
    await h.say(None, "王红管", "#接单 1001")
    assert "已告知" in (await h.private("王红管"))[-1]  # the answer goes at once
    assert len(await h.bot_lines(ROOM3)) == before
    await h.advance(8 * 60)  # 07:30 local
    assert "王红管接单" in (await h.bot_lines(ROOM3))[-1]


@pytest.mark.parametrize(
    ("who", "room", "may"),
    [
        ("王红管", ROOM3, True),  # steward of the compound
        ("李网格", ROOM3, True),  # grid worker of the compound
        ("赵书记", None, True),  # community secretary
        ("钱主任", None, True),  # street officer
        ("吴科长", None, True),  # district officer
        ("管理员", None, True),  # admin: everywhere
        ("孙管家", ROOM5, False),  # steward of another compound
        ("周网格", ROOM5, False),  # grid worker of another compound
        ("李大爷", ROOM3, False),  # a resident
    ],
)
async def test_who_may_claim(harness: Harness, who: str, room: str | None, may: bool) -> None:
    h = harness
    await complaint(h)
    if not may:
        text = await unchanged(h, room, who, "#接单 1001")
        assert "红色管家、网格员" in text or "王红管（红色管家）" in text
        return
    await h.say(room, who, "#接单 1001")
    t = await h.ticket(1001)
    assert t["status"] == "claimed" and t["assignee_id"] is not None
    assert f"{who}接单" in (await h.bot_lines(ROOM3))[-1]


async def test_progress_usage_and_before_claim(harness: Harness) -> None:
    h = harness
    await complaint(h)
    assert "用法：#进展 工单号 进展说明" in await unchanged(h, ROOM3, "王红管", "#进展 1001")
    assert "用法" in await unchanged(h, ROOM3, "王红管", "#progress")
    assert "请先发送 #接单 1001" in await unchanged(h, ROOM3, "王红管", "#进展 1001 在看")
    assert "红色管家" in await unchanged(h, ROOM3, "李大爷", "#进展 1001 在修")


async def test_ticket_reported_in_private_is_the_officers_to_route(harness: Harness) -> None:
    h = harness
    await h.say(None, "张阿姨", "#报修 小区东门的路灯坏了")
    [t] = await h.tickets()
    assert t["room_id"] is None and t["building_id"] is None
    assert "社区书记" in await unchanged(h, ROOM3, "王红管", f"#接单 {t['number']}")
    await h.say(None, "赵书记", f"#接单 {t['number']}")
    # the reporter hears of it privately
    assert "赵书记接单" in (await h.private("张阿姨"))[-1]


STEWARD_COMMANDS = (
    "#接单 1001",
    "#方案 1001 换灯",
    "#进展 1001 在修",
    "#办结 1001 好了",
    "#转派 1001 @李网格",
    "#升级 1001 太难",
)


async def test_every_steward_command_refused_outside_role_or_area(harness: Harness) -> None:
    h = harness
    await complaint(h)
    await h.say(ROOM3, "王红管", "#接单 1001")
    for text in STEWARD_COMMANDS:
        # a resident, in the group and in private chat: the role is missing
        for room in (ROOM3, None):
            answer = await unchanged(h, room, "李大爷", text)
            assert "只有红色管家、网格员、社区书记、街道干部、区县干部可以使用" in answer, text
        # staff of another compound: the area is wrong; the answer names who can
        for who in ("孙管家", "周网格"):
            answer = await unchanged(h, ROOM5, who, text)
            assert "不在您负责的范围" in answer and "王红管（红色管家）" in answer, text
