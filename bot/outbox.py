"""Sending what the outbox holds: paced per group and per account, retried, never twice.

A message is claimed ('sending', one transaction), handed to the channel, then marked sent
(one transaction for it and every message merged into it). What remains is at-least-once:
if the process dies after the channel accepted a message and before that last commit, the
rows are still 'sending'; the next start puts them back to pending (storage/outbox.py
recover_sending) and the message goes out once more. WeChat offers no idempotent send to
close this window; tests/test_faults_crash.py kills a process exactly there and counts the
one repeat. Nothing is ever lost: a failed or timed-out send (`[outbox] send_timeout_seconds`)
is retried with exponential backoff, and a paced message stays pending until its turn.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

from loguru import logger

from bot.channel import Channel, ChannelError, Outgoing
from config.schema import OutboxConfig
from handlers.privacy import mask_phones
from storage import Database
from storage import outbox as q
from storage.models import OutboxMessage

MINUTE = timedelta(minutes=1)
# a merged private message stays readable on a phone
MAX_MERGED_CHARS = 1500


def merge_groups(rows: list[OutboxMessage], limit: int) -> list[list[OutboxMessage]]:
    """Group due messages: several text messages to one person become one; the rest alone.

    Order is kept: a group goes out where its first message stood.
    """
    groups: list[list[OutboxMessage]] = []
    open_for: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        person = row.person_id
        if person is None or row.image_path:
            groups.append([row])
            continue
        group = open_for.get(person)
        if group is not None and sum(len(r.text) + 2 for r in group) + len(row.text) <= limit:
            group.append(row)
            continue
        group = [row]
        open_for[person] = group
        groups.append(group)
    return groups


class OutboxSender:
    """Drains the outbox through a channel within the configured caps.

    With `account` (the bot's self_id) it sends only that account's rows: several processes,
    one per WeChat account, share one database (see storage/outbox.py).
    """

    def __init__(
        self, db: Database, channel: Channel, config: OutboxConfig, account: str | None = None
    ) -> None:
        self.db = db
        self.channel = channel
        self.config = config
        self.account = account
        self._lock = asyncio.Lock()
        self._recent: deque[tuple[datetime, str | None]] = deque()
        self._loaded = False
        self._paced_logged: datetime | None = None

    async def _load_recent(self, now: datetime) -> None:
        rows = await self.db.run(q.sent_since, now - MINUTE, self.account)
        self._recent = deque(sorted(((t, r) for r, t in rows), key=lambda x: x[0]))
        self._loaded = True

    def _room_full(self, room_id: str | None, now: datetime) -> bool:
        while self._recent and self._recent[0][0] <= now - MINUTE:
            self._recent.popleft()
        if len(self._recent) >= self.config.per_account_per_minute:
            return True
        if room_id is None:
            return False
        return sum(1 for _, r in self._recent if r == room_id) >= self.config.per_room_per_minute

    def next_slot(self, now: datetime) -> datetime | None:
        """When the pacing window next frees a place (None if nothing was sent lately)."""
        if not self._recent:
            return None
        return self._recent[0][0] + MINUTE

    async def drain(self, now: datetime) -> int:
        """Send every due message the caps allow; return how many went out."""
        async with self._lock:
            if not self._loaded:
                await self._load_recent(now)
            sent = 0
            rows = await self.db.run(q.due, now, 200, self.account)
            paced = 0
            for group in merge_groups(rows, MAX_MERGED_CHARS):
                head = group[0]
                assert head.id is not None
                if self._room_full(head.room_id, now):
                    paced += len(group)
                    continue  # waits for the pacing window; stays pending, never dropped
                claimed = [r for r in group if await self.db.run(q.claim, r.id)]
                if not claimed:
                    continue  # another process took them
                if await self._send_one(claimed, now):
                    sent += 1
            if sent:
                logger.debug("outbox sent {} message(s)", sent)
            if paced and (self._paced_logged is None or now - self._paced_logged >= MINUTE):
                self._paced_logged = now
                logger.info(
                    "outbox: {} message(s) waiting for the per-group/per-account pace", paced
                )
            return sent

    async def _send_one(self, rows: list[OutboxMessage], now: datetime) -> bool:
        row = rows[0]
        assert row.id is not None
        out = Outgoing(
            text="\n\n".join(r.text for r in rows),
            room_id=row.room_id,
            person_id=row.person_id,
            mentions=tuple(row.mentions or ()),
            image_path=Path(row.image_path) if row.image_path else None,
            keys=tuple(r.key for r in rows),
        )
        timeout = self.config.send_timeout_seconds
        try:
            channel_id = await asyncio.wait_for(self.channel.send(out), timeout=timeout)
        except (ChannelError, TimeoutError, OSError) as e:
            if isinstance(e, TimeoutError) and not str(e):
                e = TimeoutError(f"no answer from the channel within {timeout:g}s")
            retry = now + q.backoff(
                row.attempts + 1, self.config.retry_base_seconds, self.config.retry_max_seconds
            )
            for r in rows:
                assert r.id is not None
                await self.db.run(q.mark_failed, r.id, f"{type(e).__name__}: {e}", retry)
            logger.warning(
                "send of outbox #{} to {} failed ({}: {}); {} message(s) retry at {}",
                row.id,
                row.room_id or row.person_id,
                type(e).__name__,
                mask_phones(str(e)),
                len(rows),
                retry.isoformat(),
            )
            return False
        # one transaction: a crash cannot leave the merged rows 'sending' (they would go twice)
        merged = [r.id for r in rows[1:] if r.id is not None]
        await self.db.run(q.mark_sent_group, row.id, merged, now, channel_id)
        if merged:
            logger.info("outbox merged {} messages to {} into one", len(rows), row.person_id)
        self._recent.append((now, row.room_id))
        return True

    async def next_release(self, now: datetime) -> datetime | None:
        """When something in the outbox may next go out."""
        release = await self.db.run(q.next_release, self.account)
        if release is None:
            return None
        slot = self.next_slot(now)
        if release <= now and slot is not None:
            return max(release, slot)
        return release
