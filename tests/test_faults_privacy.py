"""Privacy: phone and door numbers never reach a group or the log; 我的数据; erasure."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from loguru import logger
from sqlmodel import select

from bot.__main__ import main as cli
from storage import stats
from storage.models import Message, OutboxMessage, Person, Ticket, TicketEvent
from tests.commands_support import ROOM3, ROOM5, unchanged
from tests.harness import START, Harness, running_bot

PHONE, PHONE2 = "13812345678", "13987654321"
DOOR = "502"


@contextmanager
def all_logs() -> Iterator[list[str]]:
    """Every log line, at every level."""
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{level} {message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


def leaks(text: str) -> list[str]:
    """Full phone numbers or the door number 502 in a text."""
    found = re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)
    if re.search(r"(?<!\d)502(?!\d)", text):
        found.append(DOOR)
    return found


async def group_posts(h: Harness) -> list[str]:
    """Everything the bot posted into any group (from the outbox, sent or not)."""

    def q(session):  # type: ignore[no-untyped-def]
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.room_id.is_not(None)))  # type: ignore[union-attr]
        return [o.text for o in rows]

    return await h.db.run(q)


async def test_phone_and_door_numbers_are_masked_on_every_group_path(harness: Harness) -> None:
    h = harness
    with all_logs() as lines:
        # ack, 附议 ack, urgent ack
        await h.say(ROOM3, "张阿姨", f"3号楼2单元{DOOR}门口楼道灯坏了，电话{PHONE}")
        await h.say(ROOM3, "李大爷", f"2单元{DOOR}楼道灯还是不亮，联系我{PHONE2}")
        await h.say(ROOM5, "陈奶奶", f"5号楼1单元{DOOR}室燃气泄漏了！{PHONE}")
        # status lines with the steward's own text carrying a number
        await h.say(ROOM3, "王红管", "#接单 1001")
        await h.say(ROOM3, "王红管", f"#方案 1001 下午到{DOOR}室更换灯泡，有事打{PHONE2}")
        await h.say(ROOM3, "王红管", "#工单 1001")
        await h.say(ROOM3, "王红管", f"#进展 1001 已联系{DOOR}业主，电话{PHONE}")
        # a consultation with a number in it, a refused command, a usage error
        await h.say(ROOM3, "赵叔", f"请问物业费怎么交？我家{DOOR}室，电话{PHONE}")
        await h.say(ROOM3, "赵叔", f"#办结 1001 {PHONE}")
        await h.say(ROOM3, "张阿姨", f"#附议 {PHONE}")
        await h.say(ROOM3, "张阿姨", "#我的工单")
        # reminders, escalations and the notice/digest work over two days
        await h.advance(60 * 30)
        await h.say(ROOM3, "王红管", f"#办结 1001 已为{DOOR}室换好灯泡")
    posts = await group_posts(h)
    assert len(posts) >= 12
    bad = {p: leaks(p) for p in posts if leaks(p)}
    assert bad == {}
    # logs: never a phone number (door numbers of messages may be logged for support)
    assert [x for x in lines if re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", x)] == []
    # but the private side keeps what the person needs: the steward's private reminder/card
    assert any("1001" in x for x in await h.private("王红管"))


async def test_my_data_is_sent_privately_with_a_short_line_in_the_group(harness: Harness) -> None:
    h = harness
    await h.say(ROOM3, "张阿姨", f"3号楼2单元{DOOR}门口楼道灯坏了，电话{PHONE}")
    await h.say(ROOM3, "张阿姨", "今天天气真好")
    before = len(await h.bot_lines(ROOM3))
    await h.say(ROOM3, "张阿姨", "我的数据")  # no # needed
    group = (await h.bot_lines(ROOM3))[before:]
    assert group == ["@张阿姨\u2005您的数据已私信发给您，请查看与红管家的私聊。"]
    report = (await h.private("张阿姨"))[-1]
    assert report.startswith("您在红管家保存的个人数据：")
    assert "消息：共 3 条" in report and "今天天气真好" in report
    assert f"{DOOR}门口楼道灯坏了" in report  # their own data, in private, unmasked
    assert "#1001" in report
    await h.say(None, "张阿姨", "#我的数据")
    assert (await h.private("张阿姨"))[-1].startswith("您在红管家保存的个人数据：")
    # another resident's data is not in it
    await h.say(ROOM3, "李大爷", "#我的数据")
    assert "楼道灯" not in (await h.private("李大爷"))[-1]


async def figures(h: Harness) -> object:
    """The rates and counts a report would show."""

    def q(session):  # type: ignore[no-untyped-def]
        end = START + timedelta(days=3)
        return (
            stats.rates(session, START, end),
            stats.counts(session, START, end),
            stats.rates(session, START, end, group_by="category"),
        )

    return await h.db.run(q)


async def stored(h: Harness, person_id: str) -> dict[str, object]:
    """What is stored about one person."""

    def q(session):  # type: ignore[no-untyped-def]
        p = session.get(Person, person_id)
        msgs = list(session.exec(select(Message).where(Message.sender_id == person_id)))
        tickets = list(session.exec(select(Ticket).where(Ticket.reporter_id == person_id)))
        events = list(session.exec(select(TicketEvent).where(TicketEvent.actor_id == person_id)))
        return {
            "person": (p.name, p.phone, p.password_hash, p.erased) if p else None,
            "messages": [(m.text, m.sender_name) for m in msgs],
            "tickets": [(t.number, t.category, t.status, t.summary) for t in tickets],
            "events": [e.detail for e in events if e.detail],
        }

    return await h.db.run(q)


async def scenario(h: Harness) -> None:
    """张阿姨 reports, seconds nothing, rates her ticket after it is resolved."""
    await h.say(ROOM3, "张阿姨", f"3号楼2单元{DOOR}门口楼道灯坏了，电话{PHONE}")
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "#办结 1001 已更换灯泡")
    await h.say(ROOM3, "张阿姨", "#评价 1001 满意 修得很快，我家502")
    await h.say(ROOM3, "张阿姨", "谢谢")


async def test_an_admin_erases_a_person_and_the_figures_stay(harness: Harness) -> None:
    h = harness
    await scenario(h)
    figures_before = await figures(h)
    pid = "sim_张阿姨"
    # only an admin may; a steward is refused and nothing changes
    reply = await unchanged(h, ROOM3, "王红管", "#删除数据 @张阿姨", mentions=["张阿姨"])
    assert "只有管理员可以使用" in reply
    assert "用法：#删除数据 @某人" in await unchanged(h, ROOM3, "管理员", "#删除数据")
    await h.say(ROOM3, "管理员", "#删除数据 @张阿姨", mentions=["张阿姨"])
    assert (
        "已删除这位居民的个人数据：3 条消息已清除，1 张工单保留为匿名。"
        in (await h.bot_lines(ROOM3))[-1]
    )
    assert await stored(h, pid) == {"person": None, "messages": [], "tickets": [], "events": []}
    anon = await h.db.run(lambda s: s.exec(select(Person.id).where(Person.erased)).one())
    after = await stored(h, anon)
    assert after["person"] == ("已删除用户", None, None, True)
    assert set(after["messages"]) == {("[已删除]", "已删除用户")}  # type: ignore[arg-type]
    ((number, category, status, summary),) = after["tickets"]  # type: ignore[misc]
    assert (number, status) == (1001, "closed") and category
    assert PHONE not in summary and not leaks(summary) and "楼道灯坏了" in summary
    assert all(d == "[已删除]" for d in after["events"])  # type: ignore[attr-defined]
    assert await figures(h) == figures_before
    t = await h.ticket(1001)
    assert PHONE not in str(t) and "张阿姨" not in str(t)
    # a role holder is not erased (their grant would come back): revoke first
    reply = await unchanged(h, ROOM3, "管理员", "#删除数据 @王红管", mentions=["王红管"])
    assert "请先用 #解除角色" in reply
    # group posts that @-mentioned her now show the anonymous name
    assert not [p for p in await group_posts(h) if "张阿姨" in p]
    # a ticket list for the building still counts her ticket
    assert [x["number"] for x in await h.tickets()] == [1001]


async def test_the_erase_command_line(sqlite_url: str, tmp_path: Path) -> None:
    async with running_bot(sqlite_url) as h:
        await scenario(h)
        before = await figures(h)
    argv = ["erase", "--person", "sim_张阿姨", "--db", sqlite_url]
    assert await asyncio.to_thread(cli, argv, configure_logging=False) == 0
    assert (
        await asyncio.to_thread(
            cli, ["erase", "--person", "nobody", "--db", sqlite_url], configure_logging=False
        )
        == 2
    )
    async with running_bot(sqlite_url, start=START + timedelta(hours=1)) as h:
        assert (await stored(h, "sim_张阿姨"))["person"] is None
        anon = await h.db.run(lambda s: s.exec(select(Person.id).where(Person.erased)).one())
        assert (await stored(h, anon))["person"] == ("已删除用户", None, None, True)
        assert await figures(h) == before
