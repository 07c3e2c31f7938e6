"""What a handler is given: the services it may use and the message it handles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlmodel import Session

from config.schema import Settings
from nlp import Classifier, Understanding
from storage import Database
from storage.db import Batched
from storage.directory import (
    BuildingInfo,
    Directory,
    PersonInfo,
    directory_version,
    load_changed_directory,
    load_directory,
)
from storage.outbox import enqueue, enqueue_later
from storage.tickets import NewMessage, StoredMessage, mark_handled_later, store_incoming

T = TypeVar("T")


class Clock(Protocol):
    """Tells the time (aware UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...


class DirectoryHolder:
    """The current directory snapshot, reloaded after changes."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.current = Directory()

    async def reload(self) -> Directory:
        """After a change: rebuild the snapshot and tell other processes (the version bumps)."""
        self.current = await self._db.run(load_changed_directory)
        return self.current

    async def refresh(self) -> bool:
        """Rebuild the snapshot if another process changed the directory; whether it did."""
        version = await self._db.run(directory_version)
        if version == self.current.version:
            return False
        self.current = await self._db.run(load_directory)
        return True

    def reload_sync(self) -> Directory:
        """Rebuild the snapshot from the tables (outside the event loop)."""
        self.current = self._db.call(load_directory)
        return self.current


# longer texts are classified off the event loop so one essay cannot stall the group
INLINE_CLASSIFY_CHARS = 2000


@dataclass(slots=True)
class Services:
    """The long-lived parts every handler may use."""

    settings: Settings
    db: Database
    clock: Clock
    directory: DirectoryHolder
    classifier: Classifier
    wake_outbox: Callable[[], None] = lambda: None
    # where messages are classified when not on the event loop (the classifier process)
    classify_elsewhere: Callable[[str], Awaitable[Understanding]] | None = None

    async def understand(self, text: str) -> Understanding:
        """The classifier's understanding of a text, never holding up the event loop long:
        in the classifier process when it runs, else here (a long text in a thread)."""
        if self.classify_elsewhere is not None:
            return await self.classify_elsewhere(text)
        if len(text) <= INLINE_CLASSIFY_CHARS:
            return self.classifier.classify(text)
        return await asyncio.get_running_loop().run_in_executor(
            None, self.classifier.classify, text
        )

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone."""
        return self.settings.tz

    def local(self, moment: datetime) -> datetime:
        """A UTC moment in local time."""
        return moment.astimezone(self.tz)

    def after_quiet_hours(self, moment: datetime) -> datetime:
        """The moment itself, or the end of quiet hours if it falls inside them."""
        q = self.settings.quiet_hours
        if not q.enabled:
            return moment
        local = self.local(moment)
        t = local.time()
        inside = (q.start <= t or t < q.end) if q.start > q.end else (q.start <= t < q.end)
        if not inside:
            return moment
        day = local.date() if t < q.end else local.date() + timedelta(days=1)
        end = datetime.combine(day, q.end, tzinfo=self.tz)
        return end.astimezone(moment.tzinfo)


@dataclass(slots=True)
class Outbound:
    """A message a handler decided to send, written to the outbox with its effects."""

    text: str
    room_id: str | None = None
    person_id: str | None = None
    mentions: tuple[str, ...] = ()
    urgent: bool = False
    quiet: bool = False  # a bot-initiated group post: waits out quiet hours unless urgent
    key: str | None = None
    image_path: str | None = None
    # the bot account to send a private message through (default: this process's own);
    # a group post always goes through the account sitting in the group
    account: str | None = None

    def outbox_fields(self, key: str, now: datetime, services: Services) -> dict[str, Any]:
        """What the outbox stores of it (storage.outbox.enqueue / message_row arguments)."""
        quiet = self.quiet and not self.urgent and self.room_id is not None
        return {
            "key": key,
            "text": self.text,
            "now": now,
            "room_id": self.room_id,
            "person_id": self.person_id,
            "mentions": self.mentions,
            "image_path": self.image_path,
            "not_before": services.after_quiet_hours(now) if quiet else now,
            "urgent": self.urgent,
            "account": self.account or services.settings.bot.self_id,
        }


@dataclass(slots=True)
class Tx:
    """The messages a transaction sends; keyed by the source message so replays send none."""

    services: Services
    key_prefix: str
    outbound: list[Outbound] = field(default_factory=list)

    def send(self, out: Outbound) -> None:
        """Queue one message."""
        self.outbound.append(out)

    def flush(self, session: Session, now: datetime) -> int:
        """Write the queued messages to the outbox; how many were new."""
        new = sum(enqueue(session, **row) for row in self._rows(now))
        self.outbound.clear()
        return new

    def flush_later(self, session: Session, now: datetime) -> None:
        """flush, the rows written at the end of the transaction with the others like them."""
        for row in self._rows(now):
            enqueue_later(session, **row)
        self.outbound.clear()

    def _rows(self, now: datetime) -> list[dict[str, Any]]:
        """The outbox fields of the messages sent so far."""
        return [
            out.outbox_fields(out.key or f"{self.key_prefix}:{i}", now, self.services)
            for i, out in enumerate(self.outbound)
        ]


class HandledBefore(Exception):
    """The message, stored with its handling, turned out to be a delivery again of one
    handled before: nothing was done, and nothing more is to be done."""


# what a transaction gives back when its message was handled before (see Context.run)
_HANDLED_BEFORE: Any = object()


@dataclass(slots=True)
class Context:
    """One incoming message being handled.

    The message is stored before it is handled, or, when ``unstored`` holds it, by the
    first transaction of its handling, in that transaction (see ``run``).
    """

    services: Services
    message_id: int  # the stored message's row id
    channel_message_id: str
    sender_id: str
    sender_name: str
    text: str
    room_id: str | None
    room_topic: str | None
    mentions: tuple[str, ...]
    mentions_self: bool
    now: datetime
    building: BuildingInfo | None
    intent: str | None = None
    ticket_id: int | None = None
    handled: bool = False
    # the message itself, when it is to be stored with its handling (message_id is then
    # set by the transaction that stores it)
    unstored: NewMessage | None = None
    duplicate: bool = False  # the channel delivered the message before
    _replies: Tx | None = None
    _runs: int = 0

    @property
    def directory(self) -> Directory:
        """The current who-and-where snapshot."""
        return self.services.directory.current

    @property
    def person(self) -> PersonInfo | None:
        """The sender, when they hold any role."""
        return self.directory.person(self.sender_id)

    @property
    def is_private(self) -> bool:
        """True for a private chat with the bot."""
        return self.room_id is None

    @property
    def settings(self) -> Settings:
        """The configuration."""
        return self.services.settings

    def tx(self) -> Tx:
        """A fresh set of outgoing messages keyed by this message."""
        self._runs += 1
        return Tx(self.services, f"msg:{self.channel_message_id}:{self._runs}")

    def reply(
        self,
        text: str,
        mentions: Sequence[str] = (),
        *,
        mention_sender: bool = False,
        urgent: bool = False,
    ) -> Outbound:
        """An answer where the message came from: the group, or private chat."""
        if mention_sender and self.room_id is not None:
            mentions = (self.sender_id, *mentions)
            text = f"@{self.sender_name}\u2005{text}"
        if self.room_id is not None:
            return Outbound(text, room_id=self.room_id, mentions=tuple(mentions), urgent=urgent)
        return Outbound(text, person_id=self.sender_id, urgent=urgent)

    def say(self, text: str, **kw: Any) -> None:
        """Queue an answer that needs no other change (flushed when handling ends)."""
        if self._replies is None:
            self._replies = self.tx()
        self._replies.send(self.reply(text, **kw))

    async def run(
        self,
        fn: Callable[..., T],
        *,
        locks: Sequence[int] | None = None,
        before: Sequence[tuple[Batched[Any, Any], Any]] = (),
    ) -> T:
        """Run fn(session, tx) in one transaction that also sends its messages and marks this
        message done.

        ``locks``: see ``Database.run`` (work that declares them may share a transaction).
        ``before``: see ``Database.run``; fn is called with their results after tx.
        A message not stored yet (``unstored``) is stored first, in the same transaction
        (with the other messages of its group, by one call: ``Database.run``'s ``before``):
        one transaction instead of two, and if fn fails, the message is stored by the
        next (``finish``, with the apology). If it proves to be a delivery again of a
        message handled before, fn does not run and ``HandledBefore`` is raised.
        """
        tx = self.tx()
        carried: list[Outbound] = []
        if self._replies is not None:
            carried = list(self._replies.outbound)
            self._replies = None
        unstored = self.unstored

        def work(session: Session, *given: Any) -> T:
            # from the start each time: the database may run a piece of work again after
            # rolling back its group (see storage/db.py)
            tx.outbound[:] = carried
            if unstored is not None:
                stored: StoredMessage = given[0]
                given = given[1:]
                self.message_id, self.duplicate = stored.id, stored.duplicate
                if stored.duplicate and stored.handled:
                    return cast(T, _HANDLED_BEFORE)
            result = fn(session, tx, *given)
            # the reply and the handled mark go in with the group's others, same transaction
            tx.flush_later(session, self.now)
            mark_handled_later(session, self.message_id, self.intent, self.ticket_id)
            return result

        stores = () if unstored is None else ((store_incoming, unstored),)
        result = await self.services.db.run(work, locks=locks, before=(*stores, *before))
        self.unstored = None
        self.handled = True
        if result is _HANDLED_BEFORE:
            raise HandledBefore(self.channel_message_id)
        self.services.wake_outbox()
        return result

    async def finish(self) -> None:
        """Flush pending answers and mark the message handled (if no run() did)."""
        if self._replies is not None or not self.handled:
            # its writes (the reply, the handled mark) lock nothing anyone else waits for
            await self.run(lambda _s, _tx: None, locks=())


def at_local(services: Services, day: datetime, t: time) -> datetime:
    """A local wall-clock time on a day, as UTC."""
    local = datetime.combine(services.local(day).date(), t, tzinfo=services.tz)
    return local.astimezone(day.tzinfo)
