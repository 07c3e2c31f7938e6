"""The persistent outbox: every message the bot sends is a row here first.

Enqueueing with an idempotency key that exists already is a no-op, so a reminder, notice
or digest decided twice (after a restart, or by two processes) is still sent once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.models import OutboxMessage
from storage.sql import insert_ignore


def enqueue(
    session: Session,
    *,
    key: str,
    text: str,
    now: datetime,
    room_id: str | None = None,
    person_id: str | None = None,
    mentions: Sequence[str] = (),
    image_path: str | None = None,
    not_before: datetime | None = None,
    urgent: bool = False,
) -> bool:
    """Accept a message for sending; False when one with this key was accepted before."""
    if (room_id is None) == (person_id is None):
        raise ValueError("a message goes to exactly one room or one person")
    row = {
        "key": key,
        "room_id": room_id,
        "person_id": person_id,
        "text": text,
        "mentions": list(mentions),
        "image_path": image_path,
        "urgent": urgent,
        "created_at": now,
        "not_before": not_before or now,
        "status": "pending",
        "attempts": 0,
    }
    # one plain INSERT … ON CONFLICT DO NOTHING: another process may accept the same key
    return insert_ignore(session, OutboxMessage, [row]) == 1


def due(session: Session, now: datetime, limit: int = 200) -> list[OutboxMessage]:
    """Pending messages whose time has come, oldest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
    )


def next_release(session: Session) -> datetime | None:
    """When the earliest pending message may go."""
    return session.exec(
        select(func.min(OutboxMessage.not_before)).where(OutboxMessage.status == "pending")
    ).first()


def sent_since(session: Session, since: datetime) -> list[tuple[str | None, datetime]]:
    """(room, time) of every message sent since a moment, for pacing."""
    rows = session.exec(
        select(OutboxMessage.room_id, OutboxMessage.sent_at).where(
            OutboxMessage.status == "sent", col(OutboxMessage.sent_at) >= since
        )
    ).all()
    return [(r, t) for r, t in rows if t is not None]


def claim(session: Session, message_id: int) -> bool:
    """Mark a pending message as being sent (row-level; False if another worker has it)."""
    result = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == "pending")
        .values(status="sending", attempts=OutboxMessage.attempts + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_sent(session: Session, message_id: int, now: datetime, channel_id: str | None) -> None:
    """Record a successful send."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="sent", sent_at=now, channel_message_id=channel_id, last_error=None)
    )


def mark_sent_group(
    session: Session,
    head_id: int,
    merged_ids: Sequence[int],
    now: datetime,
    channel_id: str | None,
) -> None:
    """Record one send that carried several messages, in one transaction (none left 'sending')."""
    mark_sent(session, head_id, now, channel_id)
    if merged_ids:
        mark_merged(session, merged_ids, head_id, now)


def mark_merged(session: Session, message_ids: Sequence[int], into: int, now: datetime) -> None:
    """Record messages that went out merged into another one."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(list(message_ids)))
        .values(status="merged", merged_into=into, sent_at=now)
    )


def mark_failed(session: Session, message_id: int, error: str, retry_at: datetime) -> None:
    """Put a failed message back in the queue for a later try."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="pending", last_error=error[:500], not_before=retry_at)
    )


def recover_sending(session: Session) -> int:
    """After a crash: messages caught mid-send go back to pending (sent at most once more)."""
    result = session.execute(
        update(OutboxMessage).where(col(OutboxMessage.status) == "sending").values(status="pending")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def pending_count(session: Session) -> int:
    """How many messages wait to be sent."""
    return int(
        session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.status).in_(["pending", "sending"]))
        ).one()
    )


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Exponential backoff for the n-th failed attempt."""
    return timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))
