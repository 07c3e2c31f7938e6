"""The built-in simulator channel: rooms and private chats in memory, driven over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import time as _time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

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
    hang_sends: int = 0  # tests: the next n sends never return (the outbox times them out)
    connected: bool = True  # disconnect() / reconnect(): a dropped link, as puppets have
    # every real send appended here as one JSON line (survives a SIGKILL: counts true sends)
    send_log: Path | None = None
    name: str = "sim"
    _backlog: list[Incoming] = field(default_factory=list)
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
        if not self.connected:
            raise ChannelError("the simulator channel is disconnected")
        if self.fail_sends > 0:
            self.fail_sends -= 1
            raise ChannelError("simulated send failure")
        if self.hang_sends > 0:
            self.hang_sends -= 1
            await asyncio.Event().wait()  # never set: only the caller's timeout ends this
        mid = f"bot-{uuid.uuid4().hex[:12]}"
        if self.send_log is not None:
            line = {
                "keys": list(message.keys),
                "room_id": message.room_id,
                "person_id": message.person_id,
                "text": message.text,
                "time": self.clock.now().isoformat(),
            }
            with self.send_log.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
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
        if not self.connected:
            self._backlog.append(incoming)  # delivered when the link comes back
            return incoming
        await self._on_message(incoming)
        return incoming

    async def deliver(self, incoming: Incoming) -> None:
        """Deliver an incoming message again, as a puppet replaying its history does."""
        if self._on_message is None:
            raise ChannelError("the simulator is not running")
        logger.info("channel sim: message {} delivered again (replay)", incoming.message_id)
        await self._on_message(incoming)

    def disconnect(self) -> None:
        """Drop the link: sends fail, incoming messages wait for reconnect()."""
        self.connected = False
        logger.warning("channel sim disconnected: sends fail and are retried from the outbox")

    async def reconnect(self) -> int:
        """Restore the link and deliver what arrived meanwhile; how many were held."""
        self.connected = True
        held, self._backlog = self._backlog, []
        logger.info("channel sim reconnected: delivering {} held message(s)", len(held))
        if self._on_message is not None:
            for incoming in held:
                await self._on_message(incoming)
        return len(held)

    def transcript(self, room_id: str) -> list[dict[str, Any]]:
        """A room's messages in order."""
        return [e.to_json() for e in self.rooms.get(room_id, [])]

    def private_chat(self, person_id: str) -> list[dict[str, Any]]:
        """A person's private chat with the bot."""
        return [e.to_json() for e in self.private.get(person_id, [])]
