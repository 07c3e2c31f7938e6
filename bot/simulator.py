"""The built-in simulator channel: rooms and private chats in memory, driven over HTTP."""

from __future__ import annotations

import itertools
import time as _time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.channel import ChannelError, Incoming, MessageHandler, Outgoing, RoomEventHandler
from bot.clock import ManualClock


class SimClock(ManualClock):
    """The simulator's clock: real time passing (unless frozen) plus what the API advanced."""

    def __init__(self, start: datetime | None = None, *, running: bool = True) -> None:
        super().__init__(start)
        self.running = running
        self._mono = _time.monotonic()

    def now(self) -> datetime:
        """Simulated now: frozen, or moving with real time."""
        if self.running:
            mono = _time.monotonic()
            self._now += timedelta(seconds=mono - self._mono)
            self._mono = mono
        return self._now


@dataclass(slots=True)
class SimEntry:
    """One line of a simulated chat."""

    id: str
    sender_id: str
    sender: str
    text: str
    time: datetime
    mentions: tuple[str, ...] = ()
    image: str | None = None
    from_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        """The transcript line as the simulator API shows it."""
        out: dict[str, Any] = {
            "id": self.id,
            "sender": self.sender,
            "sender_id": self.sender_id,
            "text": self.text,
            "time": self.time.isoformat(),
            "from_bot": self.from_bot,
            "mentions": list(self.mentions),
        }
        if self.image:
            out["image"] = self.image
        return out


@dataclass(slots=True)
class SimChannel:
    """An in-memory chat transport with the same port as the real one."""

    bot_id: str
    bot_name: str
    clock: ManualClock
    topics: dict[str, str] = field(default_factory=dict)  # room id -> topic
    rooms: dict[str, list[SimEntry]] = field(default_factory=dict)
    private: dict[str, list[SimEntry]] = field(default_factory=dict)
    fail_sends: int = 0  # tests: make the next n sends fail
    name: str = "sim"
    _on_message: MessageHandler | None = None
    _on_event: RoomEventHandler | None = None
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def self_id(self) -> str:
        """The bot's chat id."""
        return self.bot_id

    async def start(self, on_message: MessageHandler, on_room_event: RoomEventHandler) -> None:
        """Begin delivering."""
        self._on_message = on_message
        self._on_event = on_room_event

    async def stop(self) -> None:
        """Stop delivering."""
        self._on_message = None

    async def room_topics(self) -> dict[str, str]:
        """The simulated rooms."""
        return dict(self.topics)

    def room_id_for(self, topic_or_id: str) -> str | None:
        """A room by topic (or id)."""
        if topic_or_id in self.topics:
            return topic_or_id
        return next((rid for rid, t in self.topics.items() if t == topic_or_id), None)

    async def send(self, message: Outgoing) -> str | None:
        """Record the bot's message in the room or the private chat."""
        if self.fail_sends > 0:
            self.fail_sends -= 1
            raise ChannelError("simulated send failure")
        mid = f"bot-{uuid.uuid4().hex[:12]}"
        entry = SimEntry(
            mid,
            self.bot_id,
            self.bot_name,
            message.text,
            self.clock.now(),
            message.mentions,
            image=f"/media/{message.image_path.name}" if message.image_path else None,
            from_bot=True,
        )
        if message.room_id is not None:
            self.rooms.setdefault(message.room_id, []).append(entry)
        elif message.person_id is not None:
            self.private.setdefault(message.person_id, []).append(entry)
        return mid

    async def say(
        self,
        *,
        sender_id: str,
        sender_name: str,
        text: str,
        room_id: str | None = None,
        mentions: tuple[str, ...] = (),
        message_id: str | None = None,
        media_path: Path | None = None,
        image_url: str | None = None,
        quoted_text: str | None = None,
    ) -> Incoming:
        """A person writes (or posts a photo): the line joins the transcript, the bot handles it."""
        mid = message_id or f"sim-{uuid.uuid4().hex[:16]}"
        now = self.clock.now()
        entry = SimEntry(mid, sender_id, sender_name, text, now, mentions, image=image_url)
        if room_id is not None:
            self.rooms.setdefault(room_id, []).append(entry)
        else:
            self.private.setdefault(sender_id, []).append(entry)
        incoming = Incoming(
            message_id=mid,
            sender_id=sender_id,
            sender_name=sender_name,
            text=text,
            time=now,
            room_id=room_id,
            room_topic=self.topics.get(room_id or ""),
            mentions=tuple(m for m in mentions if m != self.bot_id),
            mentions_self=self.bot_id in mentions,
            kind="image" if media_path is not None else "text",
            media_path=media_path,
            quoted_text=quoted_text,
        )
        if self._on_message is None:
            raise ChannelError("the simulator is not running")
        await self._on_message(incoming)
        return incoming

    def transcript(self, room_id: str) -> list[dict[str, Any]]:
        """A room's messages in order."""
        return [e.to_json() for e in self.rooms.get(room_id, [])]

    def private_chat(self, person_id: str) -> list[dict[str, Any]]:
        """A person's private chat with the bot."""
        return [e.to_json() for e in self.private.get(person_id, [])]
