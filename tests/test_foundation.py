"""A resident's message becomes an acknowledged ticket, end to end, through the simulator."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from loguru import logger
from sqlmodel import select

from bot.__main__ import main as cli
from storage.models import Message, OutboxMessage, Ticket
from tests.harness import Harness, demo_settings, running_bot

ROOM3 = "阳光花园3号楼业主群"
ROOM5 = "和平新村5号楼业主群"


async def test_complaint_becomes_acknowledged_ticket(harness_any: Harness) -> None:
    h = harness_any
    await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    lines = await h.bot_lines(ROOM3)
    assert len(lines) == 1
    ack = lines[0]
    assert ack.startswith("@张阿姨")
    assert "#1001" in ack and "【设施维修】" in ack and "3号楼2单元" in ack and "@王红管" in ack
    room = await h.room(ROOM3)
    assert room[-1]["mentions"] == ["sim_张阿姨", "wxid_wanghongguan"]
    [t] = await h.tickets()
    assert (t["number"], t["category"], t["status"], t["reporter_id"]) == (
        1001,
        "repair",
        "new",
        "sim_张阿姨",
    )
    assert t["location"] == "3号楼2单元楼道"
    assert t["next_deadline_kind"] == "response"
    detail = await h.ticket(1001)
    assert [e["kind"] for e in detail["events"]] == ["created"]

    def stored(session):  # type: ignore[no-untyped-def]
        return list(session.exec(select(Message))), list(session.exec(select(OutboxMessage)))

    messages, outbox = await h.db.run(stored)
    assert [m.text for m in messages] == ["3号楼2单元楼道灯坏了好几天了"]
    assert messages[0].handled and messages[0].intent == "complaint"
    assert [o.status for o in outbox] == ["sent"]


async def test_chit_chat_gets_no_reply_and_no_ticket(harness_any: Harness) -> None:
    h = harness_any
    await h.say(ROOM3, "李大爷", "收到，谢谢")
    assert await h.bot_lines(ROOM3) == []
    assert await h.tickets() == []

    def texts(session):  # type: ignore[no-untyped-def]
        return [(m.text, m.intent, m.handled) for m in session.exec(select(Message))]

    assert await h.db.run(texts) == [("收到，谢谢", "none", True)]


async def test_other_compound_gets_its_own_steward(harness: Harness) -> None:
    await harness.say(ROOM5, "小刘", "5号楼门口垃圾没人清理，都臭了")
    [ack] = await harness.bot_lines(ROOM5)
    assert "@孙管家" in ack and "【环境卫生】" in ack
    assert await harness.bot_lines(ROOM3) == []


async def test_restart_finds_every_ticket_and_message(sqlite_url: str) -> None:
    async with running_bot(sqlite_url) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        await h.say(ROOM3, "李大爷", "好的")
        await h.say(ROOM5, "小刘", "5号楼电梯坏了")
    async with running_bot(sqlite_url) as h:
        numbers = sorted(t["number"] for t in await h.tickets())
        assert numbers == [1001, 1002]

        def count(session):  # type: ignore[no-untyped-def]
            return len(list(session.exec(select(Message))))

        assert await h.db.run(count) == 3
        await h.say(ROOM3, "王阿姨", "3号楼停水了，一滴水都没有")
        assert max(t["number"] for t in await h.tickets()) == 1003


async def test_same_message_delivered_twice_makes_one_ticket(harness: Harness) -> None:
    sim = harness.sim
    for _ in range(2):
        await sim.say(
            sender_id="sim_张阿姨",
            sender_name="张阿姨",
            text="3号楼电梯坏了",
            room_id="room-yg-3",
            message_id="puppet-42",
        )
        await harness.bot.timekeeper.tick()
    assert len(await harness.tickets()) == 1
    assert len(await harness.bot_lines(ROOM3)) == 1


async def test_message_stored_but_not_handled_is_handled_after_restart(sqlite_url: str) -> None:
    async with running_bot(sqlite_url) as h:
        from storage.tickets import store_message

        def crash_between(session):  # type: ignore[no-untyped-def]
            return store_message(
                session,
                channel_message_id="m-lost",
                room_id="room-yg-3",
                sender_id="sim_张阿姨",
                sender_name="张阿姨",
                text="3号楼楼道灯坏了",
                time=h.bot.services.clock.now(),
                now=h.bot.services.clock.now(),
            )

        await h.db.run(crash_between)
        assert await h.tickets() == []
    async with running_bot(sqlite_url) as h:
        await h.bot.timekeeper.tick()
        assert len(await h.tickets()) == 1
        assert len(await h.bot_lines(ROOM3)) == 1


async def test_private_message_gets_a_hint_in_private_chat(harness: Harness) -> None:
    await harness.say(None, "张阿姨", "你好")
    [hint] = await harness.private("张阿姨")
    assert "#帮助" in hint
    assert await harness.bot_lines(ROOM3) == []


async def test_help_lists_commands(harness: Harness) -> None:
    await harness.say(ROOM3, "张阿姨", "＃帮助")
    [text] = await harness.bot_lines(ROOM3)
    assert "报修" in text and "例：" in text


async def test_explicit_intake_always_makes_a_ticket(harness: Harness) -> None:
    await harness.say(ROOM3, "张阿姨", "#报修 麻烦来看看我家门口")
    [t] = await harness.tickets()
    assert t["summary"] == "麻烦来看看我家门口"
    detail = await harness.ticket(t["number"])
    assert detail["events"][0]["data"]["explicit"] is True


async def test_mentioning_the_bot_is_explicit_intake(harness: Harness) -> None:
    await harness.say(ROOM3, "张阿姨", "@红管家 帮忙看一下这个事", mentions=["红管家"])
    assert len(await harness.tickets()) == 1


async def test_outbox_paces_a_group(sqlite_url: str) -> None:
    s = demo_settings()
    s = s.model_copy(update={"outbox": s.outbox.model_copy(update={"per_room_per_minute": 2})})
    async with running_bot(sqlite_url, s) as h:
        for i in range(5):
            await h.say(ROOM3, f"居民{i}", f"{i + 1}单元的电梯坏了，{i}楼按钮不亮")
        assert len(await h.bot_lines(ROOM3)) == 2
        await h.advance(1)
        assert len(await h.bot_lines(ROOM3)) == 4
        await h.advance(1)
        assert len(await h.bot_lines(ROOM3)) == 5


async def test_failed_sends_are_retried_not_lost(harness: Harness) -> None:
    harness.sim.fail_sends = 2
    await harness.say(ROOM3, "张阿姨", "3号楼电梯坏了")
    assert await harness.bot_lines(ROOM3) == []
    await harness.advance(1)
    assert len(await harness.bot_lines(ROOM3)) == 1


async def test_phone_numbers_never_reach_the_log(harness: Harness) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    try:
        await harness.say(ROOM3, "张阿姨", "#评价 电话13812345678")
        await harness.say(ROOM3, "张阿姨", "3号楼漏水了，联系我13812345678")
    finally:
        logger.remove(sink)
    assert lines and not any("13812345678" in line for line in lines)


async def test_sim_api_rejects_bad_requests_politely(harness: Harness) -> None:
    c = harness.client
    for body in (
        {"sender": "张阿姨"},
        {"text": "x"},
        {"sender": "", "text": "x"},
        {"sender": "a", "text": 1},
        [1, 2],
    ):
        r = await c.post("/api/sim/messages", json=body)
        assert r.status == 400
        assert "error" in await r.json()
    r = await c.post("/api/sim/messages", data=b"\xff\xfe not json")
    assert r.status == 400
    r = await c.post("/api/sim/messages", json={"room": "不存在的群", "sender": "a", "text": "x"})
    assert r.status == 404
    r = await c.post("/api/sim/clock", json={"advance_minutes": "soon"})
    assert r.status == 400
    r = await c.get("/api/sim/messages")
    assert r.status == 400
    r = await c.get("/api/tickets", params={"status": "lost"})
    assert r.status == 400
    r = await c.get("/api/tickets/abc")
    assert r.status == 400
    r = await c.get("/api/tickets/99999")
    assert r.status == 404


async def test_pages_render(harness: Harness) -> None:
    from tests.web.util import sign_in

    await harness.say(ROOM3, "张阿姨", "3号楼电梯坏了")
    assert await sign_in(harness.client, "赵书记") == 302
    r = await harness.client.get("/tickets")
    assert r.status == 200 and "#1001" in await r.text()
    r = await harness.client.get("/sim")
    assert r.status == 200 and ROOM3 in await r.text()


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[web]\nport = "eighty"\n', encoding="utf-8")
    assert cli(["run", "--config", str(bad)], configure_logging=False) == 2
    err = capsys.readouterr().err
    assert "web.port" in err


def test_run_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table ticket (id integer primary key)")
    lines: list[str] = []
    sink = logger.add(lines.append, level="ERROR")
    try:
        assert (
            cli(["run", "--db", f"sqlite:///{path}", "--port", "1"], configure_logging=False) == 2
        )
    finally:
        logger.remove(sink)
    assert any("python -m bot migrate" in line for line in lines)


def test_migrate_command_brings_a_database_to_head(tmp_path: Path) -> None:
    from storage import Database

    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert cli(["migrate", "--db", url], configure_logging=False) == 0
    db = Database(url)
    assert db.current_revision() == db.head_revision()
    db.close()


def test_ticket_table_has_what_the_ledger_needs() -> None:
    cols = set(Ticket.model_fields)
    for needed in (
        "number",
        "category",
        "urgent",
        "location",
        "building_id",
        "reporter_id",
        "assignee_id",
        "status",
        "rung",
        "created_at",
        "first_response_at",
        "plan_at",
        "resolved_at",
        "closed_at",
    ):
        assert needed in cols


async def test_several_private_messages_to_one_person_become_one(harness: Harness) -> None:
    from handlers.context import Outbound, Tx

    services = harness.bot.services
    now = services.clock.now()

    def queue(session):  # type: ignore[no-untyped-def]
        tx = Tx(services, "test-merge")
        for i in range(3):
            tx.send(Outbound(f"提醒{i}：工单 #{1000 + i} 已超时", person_id="wxid_wanghongguan"))
        tx.send(Outbound("给李网格的提醒", person_id="wxid_liwangge"))
        tx.flush(session, now)

    await harness.db.run(queue)
    await harness.bot.timekeeper.tick()
    [merged] = await harness.private("王红管")
    assert merged.count("提醒") == 3 and merged.index("提醒0") < merged.index("提醒2")
    assert await harness.private("李网格") == ["给李网格的提醒"]

    def statuses(session):  # type: ignore[no-untyped-def]
        return sorted(r.status for r in session.exec(select(OutboxMessage)))

    assert await harness.db.run(statuses) == ["merged", "merged", "sent", "sent"]


async def test_one_problem_reported_at_once_by_many_is_one_ticket(harness_any: Harness) -> None:
    """Complaints of one problem handled at the same time (several database workers on
    PostgreSQL) still find each other: one ticket, the others second it."""
    h = harness_any
    names = ["张阿姨", "李大爷", "赵叔", "钱阿姨", "孙奶奶", "周大哥"]
    await asyncio.gather(*(h.say(ROOM3, n, "3号楼电梯又坏了，老人上不去楼") for n in names))
    [t] = await h.tickets()
    detail = await h.ticket(t["number"])
    assert sorted(e["kind"] for e in detail["events"]) == ["created"] + ["seconded"] * 5
    # each seconder was told the count its 附议 made (however the six were grouped)
    told = [
        int(n) for line in await h.bot_lines(ROOM3) for n in re.findall(r"目前共有 (\d+) 位", line)
    ]
    assert sorted(told) == [2, 3, 4, 5, 6]
