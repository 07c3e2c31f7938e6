"""A flood: 1,000 messages in one group within a minute. The bot paces its own posts (per
group and per account), drops nothing it accepted, and stays within the caps in every
minute of its transcript."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from config.schema import OutboxConfig
from storage.models import Message, OutboxMessage
from tests.commands_support import ROOM1, ROOM3
from tests.harness import demo_settings, running_bot

PER_ROOM, PER_ACCOUNT = 20, 30
WINDOW = timedelta(minutes=1)


def most_in_a_minute(times: list[datetime]) -> int:
    """The largest number of moments in any window (t - 1 min, t]."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - WINDOW:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def burst_text(i: int) -> str:
    """Mostly chatter, every fifth a problem report, every 25th a question."""
    if i % 25 == 0:
        return "请问物业费怎么交？"
    if i % 5 == 0:
        return f"3号楼{i % 6 + 1}单元楼道灯坏了，{i}"
    return f"大家好，今天第{i}条消息，天气不错"


async def test_a_burst_of_1000_messages_stays_within_the_caps_and_drops_nothing(
    sqlite_url: str,
) -> None:
    settings = demo_settings(
        outbox=OutboxConfig(per_room_per_minute=PER_ROOM, per_account_per_minute=PER_ACCOUNT)
    )
    async with running_bot(sqlite_url, settings) as h:
        for i in range(1000):
            await h.say(ROOM3, f"居民{i % 97}", burst_text(i))
            if i % 100 == 99:
                await h.say(ROOM1, f"一号楼居民{i}", "1号楼电梯坏了，困人了")
            if i % 50 == 49:
                await h.advance(0.05)  # 20 steps of 3 s: the burst spans one minute

        # the posts the bot accepted but could not send yet wait their turn
        def rows(session):  # type: ignore[no-untyped-def]
            return {o.key: (o.room_id, o.status) for o in session.exec(select(OutboxMessage))}

        accepted = await h.db.run(rows)
        assert any(s == "pending" for _, s in accepted.values()), "the caps held some back"
        await h.advance(60 * 3)  # (the deadlines passing on the way add their reminders)
        done = await h.db.run(rows)
        assert all(s in ("sent", "merged") for _, s in done.values())
        assert set(accepted) <= set(done)  # nothing dropped

        def stored(session):  # type: ignore[no-untyped-def]
            return len(session.exec(select(Message)).all())

        assert await h.db.run(stored) == 1010
        room3 = [m for m in await h.room(ROOM3) if m["from_bot"]]
        room1 = [m for m in await h.room(ROOM1) if m["from_bot"]]
        assert len(room3) == sum(1 for r, _ in done.values() if r == "room-yg-3") > 3 * PER_ROOM
        t3 = [datetime.fromisoformat(m["time"]) for m in room3]
        t1 = [datetime.fromisoformat(m["time"]) for m in room1]
        assert most_in_a_minute(t3) == PER_ROOM  # filled, never exceeded
        assert most_in_a_minute(t1) <= PER_ROOM

        # every send of the account (rooms and private chats), from the outbox's record
        def sent_times(session):  # type: ignore[no-untyped-def]
            q = select(OutboxMessage.sent_at).where(OutboxMessage.status == "sent")
            return [t for t in session.exec(q) if t is not None]

        sends = await h.db.run(sent_times)
        assert len(sends) > PER_ACCOUNT
        assert most_in_a_minute(sends) <= PER_ACCOUNT
