"""The outbox forgets what it sent long ago, once a day, and never what a job still checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from bot.jobs.prune import keep_for
from config.schema import DigestConfig, OutboxConfig, ReportConfig
from storage import Database
from storage.models import OutboxMessage
from storage.outbox import enqueue, mark_merged, mark_sent, prune_sent
from tests.clock_helpers import ROOM3, local, quiet_settings
from tests.harness import demo_settings, running_bot

START = local(2026, 11, 23, 10, 0)


def _sent(session: Session, key: str, at: datetime, *, sent: bool = True) -> int:
    """A message accepted at ``at`` and, unless told otherwise, sent then."""
    assert enqueue(session, key=key, text=key, now=at, person_id="wxid_someone")
    mid = session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).one()
    assert mid is not None
    if sent:
        mark_sent(session, mid, at, None)
    return mid


def _old_keys(session: Session) -> list[str]:
    q = select(OutboxMessage.key).where(col(OutboxMessage.key).startswith("old:"))
    return sorted(session.exec(q).all())


async def test_sent_messages_past_keep_days_go_at_prune_time(db_url: str, tmp_path: Path) -> None:
    """At 03:30 the rows sent more than 90 days before go (with those merged into them);
    younger ones, and any not sent, stay; the bot goes on answering meanwhile."""
    settings = quiet_settings(tmp_path)
    night = local(2026, 11, 23, 3, 0)
    async with running_bot(db_url, settings, start=night) as h:
        await h.advance(0)  # the first tick: yesterday's pass, caught up (nothing to delete)

        def seed(session: Session) -> None:
            head = _sent(session, "old:1-sent-100-days-ago", night - timedelta(days=100))
            merged = _sent(session, "old:2-merged-into-it", night - timedelta(days=100), sent=False)
            mark_merged(session, [merged], head, night - timedelta(days=100))
            _sent(session, "old:3-sent-80-days-ago", night - timedelta(days=80))
            _sent(session, "old:4-never-sent", night - timedelta(days=100), sent=False)

        await h.db.run(seed)
        await h.advance(29)  # 03:29: not yet
        assert len(await h.db.run(_old_keys)) == 4
        await h.advance(1)  # 03:30
        assert await h.db.run(_old_keys) == ["old:3-sent-80-days-ago", "old:4-never-sent"]
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了")
        assert len(await h.tickets()) == 1


async def test_prune_goes_in_batches_oldest_first(db_url: str) -> None:
    """prune_sent deletes at most its limit, the oldest first, and says how many went."""
    db = Database(db_url)
    db.prepare()
    try:

        def seed(session: Session) -> None:
            for i in range(5):
                _sent(session, f"old:{i}", START - timedelta(days=100 - i))
            _sent(session, "old:new", START)

        await db.run(seed)
        before = START - timedelta(days=90)
        assert await db.run(prune_sent, before, 2) == 2
        assert await db.run(_old_keys) == ["old:2", "old:3", "old:4", "old:new"]
        assert [await db.run(prune_sent, before, 2) for _ in range(3)] == [2, 1, 0]
        assert await db.run(_old_keys) == ["old:new"]
    finally:
        db.close()


def test_rows_outlive_what_the_jobs_look_back_for() -> None:
    """keep_days is the rule; a longer catch-up of the digest or the report wins over it."""
    base = demo_settings()
    assert keep_for(base) == timedelta(days=90)
    short = base.model_copy(update={"outbox": OutboxConfig(keep_days=7)})
    assert keep_for(short) == timedelta(days=7)
    late_report = short.model_copy(update={"report": ReportConfig(catch_up_hours=24 * 30)})
    assert keep_for(late_report) == timedelta(days=31)
    late_digest = short.model_copy(update={"digest": DigestConfig(catch_up_hours=24 * 10)})
    assert keep_for(late_digest) == timedelta(days=11)


async def test_processes_pruning_at_once_delete_each_row_once(db_url: str) -> None:
    """Every process prunes at the same moment: together they delete each old row once, the
    counts they report add up, and none of them fails."""
    import asyncio

    from storage.outbox import enqueue_many, message_row

    first, second = Database(db_url), Database(db_url)
    first.prepare()
    old = START - timedelta(days=100)

    def seed(session: Session) -> None:
        rows = [
            message_row(key=f"old:{i:05d}", text="x", now=old, person_id="wxid_someone")
            for i in range(3000)
        ]
        enqueue_many(session, rows)
        for mid in session.exec(select(OutboxMessage.id)).all():
            assert mid is not None
            mark_sent(session, mid, old, None)

    async def prune(db: Database) -> int:
        gone = 0
        while (n := await db.run(prune_sent, START - timedelta(days=90), 500)) == 500:
            gone += n
        return gone + n

    try:
        await first.run(seed)
        counts = await asyncio.gather(prune(first), prune(second), prune(first), prune(second))
        assert sum(counts) == 3000
        assert await first.run(_old_keys) == []
    finally:
        first.close()
        second.close()
