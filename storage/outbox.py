"""The persistent outbox: every message the bot sends is a row here first.

Enqueueing with an idempotency key that exists already is a no-op, so a reminder, notice
or digest decided twice (after a restart, or by two processes) is still sent once.

Several bot processes (one per WeChat account) may share one database. Each row names the
account that sends it (`account`, the bot's self_id): a group post goes through the account
sitting in that group (`room.account`, recorded when the room is configured or seen); a
private message through the account the caller names — the one that received the message
being answered, or for clock work about a ticket the account of the ticket's group. Each
process drains only its own account's rows (and rows with no account, written before
accounts were recorded).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.db import later
from storage.models import OutboxMessage, Room
from storage.plain import Plain
from storage.sql import insert_ignore_statement


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
    account: str | None = None,
) -> bool:
    """Accept a message for sending; False when one with this key was accepted before.

    A group post is sent by the account recorded on its room (`account` when the room has
    none); a private message by `account`.
    """
    row = _row(
        key, text, now, room_id, person_id, mentions, image_path, not_before, urgent, account
    )
    # one plain INSERT … ON CONFLICT DO NOTHING: another process may accept the same key
    # (RETURNING tells whether it went in: psycopg reports no rowcount for these)
    if room_id is None:
        return _PRIVATE_POST.first(session, row) is not None
    # a group post: the room's account, looked up inside the same statement
    return _ROOM_POST.first(session, row) is not None


def enqueue_later(
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
    account: str | None = None,
) -> None:
    """enqueue, written at the end of the transaction with the others (storage.db.later).

    For work run by the Database that does not need to know whether the key was new.
    """
    row = _row(
        key, text, now, room_id, person_id, mentions, image_path, not_before, urgent, account
    )
    later(session, _PRIVATE_LATER if room_id is None else _ROOM_LATER, row)


def _row(
    key: str,
    text: str,
    now: datetime,
    room_id: str | None,
    person_id: str | None,
    mentions: Sequence[str],
    image_path: str | None,
    not_before: datetime | None,
    urgent: bool,
    account: str | None,
) -> dict[str, Any]:
    if (room_id is None) == (person_id is None):
        raise ValueError("a message goes to exactly one room or one person")
    return {
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
        "account": account,
        "room_account_of": room_id,
    }


_COLUMNS = (
    "key",
    "room_id",
    "person_id",
    "text",
    "mentions",
    "image_path",
    "urgent",
    "created_at",
    "not_before",
    "status",
    "attempts",
    "account",
)


def _post(to_room: bool, returning: bool = True) -> Plain:
    """INSERT … ON CONFLICT DO NOTHING (RETURNING id) of one outbox row, per dialect.

    For a group post the account is coalesce((SELECT account FROM room …), :account).
    """

    def build(dialect: str) -> Any:
        base = (
            postgresql.insert(OutboxMessage)
            if dialect == "postgresql"
            else sqlite.insert(OutboxMessage)
        )
        values: dict[str, Any] = {c: bindparam(c) for c in _COLUMNS}
        if to_room:
            owner = select(Room.account).where(col(Room.id) == bindparam("room_account_of"))
            values["account"] = func.coalesce(
                owner.scalar_subquery(), bindparam("account", type_=String)
            )
        stmt = base.values(values).on_conflict_do_nothing()
        return stmt.returning(col(OutboxMessage.id)) if returning else stmt

    # (written at a transaction's end, many rows of one statement: on PostgreSQL as one)
    return Plain(build, together=not returning)


_ROOM_POST = _post(to_room=True)
_PRIVATE_POST = _post(to_room=False)
_ROOM_LATER = _post(to_room=True, returning=False)
_PRIVATE_LATER = _post(to_room=False, returning=False)


def room_account(session: Session, room_id: str | None) -> str | None:
    """The bot account sitting in a group (None when unknown)."""
    if room_id is None:
        return None
    return session.exec(select(Room.account).where(col(Room.id) == room_id)).first()


def room_accounts(session: Session, room_ids: Collection[str]) -> dict[str, str | None]:
    """The bot accounts sitting in some groups, by group (one query)."""
    if not room_ids:
        return {}
    q = select(Room.id, Room.account).where(col(Room.id).in_(list(room_ids)))
    return {rid: account for rid, account in session.exec(q).all()}


def message_row(
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
    account: str | None = None,
) -> dict[str, Any]:
    """The outbox row of one message, pending, for enqueue_many."""
    row = _row(
        key, text, now, room_id, person_id, mentions, image_path, not_before, urgent, account
    )
    del row["room_account_of"]
    return row


def enqueue_many(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """enqueue for many message_rows at once; how many were new.

    One query for the rooms' accounts (a group post goes through its room's account, the
    row's own when the room has none) and one INSERT … ON CONFLICT DO NOTHING for all.
    """
    if not rows:
        return 0
    owners = room_accounts(session, {r["room_id"] for r in rows if r["room_id"] is not None})
    rows = [
        {**r, "account": owners[r["room_id"]]} if owners.get(r["room_id"]) is not None else r
        for r in rows
    ]
    stmt = insert_ignore_statement(session, OutboxMessage, returning_id=True)
    return len(session.connection().execute(stmt, rows).all())


def _mine(account: str | None) -> list[ColumnElement[bool]]:
    """Rows this account sends: its own and those with no account (None: every row)."""
    if account is None:
        return []
    return [or_(col(OutboxMessage.account) == account, col(OutboxMessage.account).is_(None))]


def due(
    session: Session, now: datetime, limit: int = 200, account: str | None = None
) -> list[OutboxMessage]:
    """Pending messages (of one account) whose time has come, oldest first."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending", OutboxMessage.not_before <= now, *_mine(account)
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
    )


def next_release(session: Session, account: str | None = None) -> datetime | None:
    """When the earliest pending message (of one account) may go."""
    return session.exec(
        select(func.min(OutboxMessage.not_before)).where(
            OutboxMessage.status == "pending", *_mine(account)
        )
    ).first()


def sent_since(
    session: Session, since: datetime, account: str | None = None
) -> list[tuple[str | None, datetime]]:
    """(room, time) of every message (of one account) sent since a moment, for pacing."""
    rows = session.exec(
        select(OutboxMessage.room_id, OutboxMessage.sent_at).where(
            OutboxMessage.status == "sent", col(OutboxMessage.sent_at) >= since, *_mine(account)
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


def recover_sending(session: Session, account: str | None = None) -> int:
    """After a crash: this account's messages caught mid-send go back to pending."""
    result = session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == "sending", *_mine(account))
        .values(status="pending")
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


def states(session: Session, keys: Sequence[str]) -> dict[str, OutboxMessage]:
    """The outbox rows with these keys (their status, attempts, last error), by key."""
    if not keys:
        return {}
    rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.key).in_(list(keys))))
    return {r.key: r for r in rows}


def prune_sent(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` messages sent before a moment (and those merged into them,
    sent with them), oldest first: how many went. Their keys go with them."""
    # only sent and merged messages have a sent_at: the range of its index, nothing else read
    old = (
        select(col(OutboxMessage.id))
        .where(col(OutboxMessage.sent_at) < before)
        .order_by(col(OutboxMessage.sent_at))
        .limit(limit)
    )
    gone = delete(OutboxMessage).where(col(OutboxMessage.id).in_(old))
    # the ids deleted, counted (a driver's rowcount is not always told)
    return len(session.execute(gone.returning(col(OutboxMessage.id))).all())
