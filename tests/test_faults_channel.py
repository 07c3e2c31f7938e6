"""The channel misbehaves: sends fail, hang, the link drops, messages come twice or again
after a restart. Nothing is lost, nothing is doubled, and each fault leaves a clear log line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from loguru import logger
from sqlmodel import select

from bot.channel import Incoming
from config.schema import OutboxConfig
from storage.models import Message, OutboxMessage, Ticket
from tests.commands_support import ROOM3
from tests.harness import Harness, demo_settings, later, running_bot

COMPLAINT = "3号楼2单元楼道灯坏了好几天了"


@contextmanager
def logged() -> Iterator[list[str]]:
    """Every log line (level and message) while the block runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["level"].name + " " + m.record["message"]))
    try:
        yield lines
    finally:
        logger.remove(sink)


async def counts(h: Harness) -> tuple[int, int]:
    """(tickets, messages stored)."""

    def q(session):  # type: ignore[no-untyped-def]
        return (
            len(session.exec(select(Ticket)).all()),
            len(session.exec(select(Message)).all()),
        )

    return await h.db.run(q)


async def outbox(h: Harness) -> list[tuple[str, str, int]]:
    """(key, status, attempts) of every outbox row."""

    def q(session):  # type: ignore[no-untyped-def]
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(o.key, o.status, o.attempts) for o in rows]

    return await h.db.run(q)


async def test_failed_sends_are_retried_with_backoff_and_arrive_once(harness: Harness) -> None:
    h = harness
    h.sim.fail_sends = 2
    with logged() as lines:
        await h.say(ROOM3, "张阿姨", COMPLAINT)
        assert await h.bot_lines(ROOM3) == []  # the ack failed: still in the outbox
        assert [s for _, s, _ in await outbox(h)] == ["pending"]
        await h.advance(0.05)  # 3 s: before the 5 s backoff, nothing is tried
        assert [a for *_, a in await outbox(h)] == [1]
        await h.advance(1)  # the second try (after 5 s) fails too, the third (10 s later) works
    assert [(s, a) for _, s, a in await outbox(h)] == [("sent", 3)]
    acks = await h.bot_lines(ROOM3)
    assert len(acks) == 1 and "#1001" in acks[0]
    failures = [x for x in lines if "failed (ChannelError: simulated send failure)" in x]
    assert len(failures) == 2 and all(x.startswith("WARNING send of outbox #1") for x in failures)
    assert "retry at" in failures[0]


async def test_a_hanging_send_times_out_and_is_retried(sqlite_url: str) -> None:
    settings = demo_settings(outbox=OutboxConfig(send_timeout_seconds=0.05))
    async with running_bot(sqlite_url, settings) as h:
        h.sim.hang_sends = 1
        with logged() as lines:
            await h.say(ROOM3, "张阿姨", COMPLAINT)
            assert await h.bot_lines(ROOM3) == []
            await h.advance(1)
        assert len(await h.bot_lines(ROOM3)) == 1
        assert [(s, a) for _, s, a in await outbox(h)] == [("sent", 2)]
        assert any(
            "failed (TimeoutError: no answer from the channel within 0.05s)" in x for x in lines
        )


async def test_a_dropped_link_holds_messages_and_delivers_after_reconnect(
    harness: Harness,
) -> None:
    h = harness
    with logged() as lines:
        h.sim.disconnect()
        await h.say(ROOM3, "张阿姨", COMPLAINT)  # held by the channel while it is down
        assert await counts(h) == (0, 0)
        assert await h.sim.reconnect() == 1
        await h.advance(0)
        assert await counts(h) == (1, 1)
        assert len(await h.bot_lines(ROOM3)) == 1
        # down again when the response deadline passes: the reminder waits in the outbox
        h.sim.disconnect()
        await h.advance(25)
        assert len(await h.bot_lines(ROOM3)) == 1
        assert any(k.startswith("remind:") and s == "pending" for k, s, _ in await outbox(h))
        await h.sim.reconnect()
        await h.advance(10)  # the retries after their backoff
    replies = await h.bot_lines(ROOM3)
    assert len(replies) == 2 and "时限已过" in replies[1]
    assert len(await h.private("王红管")) == 1
    assert all(s == "sent" for _, s, _ in await outbox(h))
    assert any(x.startswith("WARNING channel sim disconnected") for x in lines)
    assert any("reconnected: delivering 1 held message(s)" in x for x in lines)
    assert any("the simulator channel is disconnected" in x for x in lines)


async def test_the_same_message_delivered_twice_makes_one_ticket_and_one_reply(
    harness: Harness,
) -> None:
    h = harness
    with logged() as lines:
        await h.say(ROOM3, "张阿姨", COMPLAINT, id="wx-1")
        await h.say(ROOM3, "张阿姨", COMPLAINT, id="wx-1")  # the puppet delivers it again
        chatter = "今天天气不错"
        await h.say(ROOM3, "李大爷", chatter, id="wx-2")
        await h.say(ROOM3, "李大爷", chatter, id="wx-2")
    assert await counts(h) == (1, 2)
    assert len(await h.bot_lines(ROOM3)) == 1
    dup = [x for x in lines if "duplicate delivery of message" in x]
    assert dup == [
        "INFO duplicate delivery of message wx-1 ignored",
        "INFO duplicate delivery of message wx-2 ignored",
    ]


def _complaint(mid: str, text: str = COMPLAINT) -> Incoming:
    """张阿姨's message in her building's group (a complaint unless told otherwise)."""
    return Incoming(
        message_id=mid,
        sender_id="sim_张阿姨",
        sender_name="张阿姨",
        text=text,
        time=later(0),
        room_id="room-yg-3",
        room_topic=ROOM3,
    )


async def test_a_replay_through_the_channel_after_handling_changes_nothing(
    harness: Harness,
) -> None:
    h = harness
    incoming = _complaint("wx-9")
    await h.sim.deliver(incoming)
    await h.advance(0)
    with logged() as lines:
        await h.sim.deliver(incoming)
        await h.advance(0)
    assert await counts(h) == (1, 1)
    assert len(await h.bot_lines(ROOM3)) == 1
    assert "INFO channel sim: message wx-9 delivered again (replay)" in lines
    assert "INFO duplicate delivery of message wx-9 ignored" in lines


async def test_messages_replayed_after_a_restart_are_recognised(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url) as h:
        await h.say(ROOM3, "张阿姨", COMPLAINT, id="wx-r1")
        await h.say(ROOM3, "王红管", "#接单 1001", id="wx-r2")
        before = await outbox(h)
    async with running_bot(sqlite_url, start=later(5)) as h:
        with logged() as lines:
            await h.say(ROOM3, "张阿姨", COMPLAINT, id="wx-r1")
            await h.say(ROOM3, "王红管", "#接单 1001", id="wx-r2")
        assert await counts(h) == (1, 2)
        assert await h.bot_lines(ROOM3) == []  # nothing answered twice
        assert await outbox(h) == before
    assert sum("duplicate delivery" in x for x in lines) == 2


async def test_a_complaint_is_stored_by_the_transaction_that_handles_it(
    harness_any: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message classified as a complaint is stored, numbered and answered in one piece
    of database work, not two (the bot's busiest path after chit-chat)."""
    h = harness_any
    await h.say(ROOM3, "张阿姨", "今天天气不错")  # the sender's row, the first runs
    works: list[str] = []
    real_run = h.db.run

    async def counted(fn, *args, **kw):  # type: ignore[no-untyped-def]
        works.append(getattr(fn, "__qualname__", repr(fn)))
        return await real_run(fn, *args, **kw)

    monkeypatch.setattr(h.db, "run", counted)
    out = await h.bot.dispatcher.handle(_complaint("wx-one"))
    assert works == ["Context.run.<locals>.work"], works
    assert out.intent == "complaint" and out.ticket_id and out.message_id
    assert not out.duplicate

    def row(session):  # type: ignore[no-untyped-def]
        m = session.exec(select(Message).where(Message.channel_message_id == "wx-one")).one()
        return m.id, m.handled, m.intent, m.ticket_id

    assert await real_run(row) == (out.message_id, True, "complaint", out.ticket_id)
    await h.advance(0)  # the outbox sends
    assert len(await h.bot_lines(ROOM3)) == 1  # the acknowledgement


async def test_a_complaint_whose_handling_fails_is_stored_with_the_apology(
    harness_any: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored with its handling, a complaint is not lost with it when the handling fails:
    the apology's transaction stores it; a delivery again is then recognised."""
    import handlers.intake

    h = harness_any

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("the ticket table is gone")

    monkeypatch.setattr(handlers.intake, "create_ticket", broken)
    with logged() as lines:
        out = await h.bot.dispatcher.handle(_complaint("wx-f1"))
    assert (out.intent, out.ticket_id, out.duplicate) == ("error", None, False)
    assert any(x.startswith("ERROR handling message wx-f1") for x in lines), lines
    assert await counts(h) == (0, 1)
    await h.advance(0)  # the outbox sends
    (apology,) = await h.bot_lines(ROOM3)
    assert "出了问题" in apology

    def row(session):  # type: ignore[no-untyped-def]
        m = session.exec(select(Message).where(Message.channel_message_id == "wx-f1")).one()
        return m.id, m.text, m.handled, m.intent

    assert await h.db.run(row) == (out.message_id, COMPLAINT, True, "error")
    monkeypatch.undo()
    with logged() as lines:
        again = await h.bot.dispatcher.handle(_complaint("wx-f1"))
    assert (again.message_id, again.duplicate, again.intent) == (out.message_id, True, None)
    assert "INFO duplicate delivery of message wx-f1 ignored" in lines
    assert await counts(h) == (0, 1)
    await h.advance(0)
    assert len(await h.bot_lines(ROOM3)) == 1


@pytest.mark.parametrize("text", [COMPLAINT, "#帮助", "王师傅今天来修吗？"])
async def test_a_message_delivered_twice_at_once_is_handled_once(
    harness_any: Harness, text: str
) -> None:
    """The channel hands over a message again while the first copy is still being handled
    (a replay right after a reconnect): one answer, one stored message, one outcome."""
    h = harness_any
    await h.say(ROOM3, "张阿姨", "今天天气不错")  # the sender's row, the first runs
    sent = len(await outbox(h))
    twice = _complaint("wx-twice", text)
    with logged() as lines:
        first, second = await asyncio.gather(
            h.bot.dispatcher.handle(twice), h.bot.dispatcher.handle(twice)
        )
        await h.advance(0)
    assert [first.duplicate, second.duplicate] == [False, True]
    assert first.message_id == second.message_id
    assert len(await h.bot_lines(ROOM3)) == 1
    assert len(await outbox(h)) == sent + 1  # nothing sent elsewhere either
    assert "INFO duplicate delivery of message wx-twice ignored" in lines
    assert sum(line.startswith("INFO handled ") for line in lines) == 1

    def stored(session):  # type: ignore[no-untyped-def]
        return len(
            session.exec(select(Message).where(Message.channel_message_id == "wx-twice")).all()
        )

    assert await h.db.run(stored) == 1
