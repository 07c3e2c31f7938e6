"""The channel port: what the bot needs from a chat transport (simulator or Wechaty).

Only one adapter module may import ``wechaty``; everything else sees these types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message the bot received, in a room or in private chat."""

    message_id: str
    sender_id: str
    sender_name: str
    text: str
    time: datetime  # UTC (aware; a naive value is taken as UTC)
    room_id: str | None = None  # None: a private message to the bot
    room_topic: str | None = None
    mentions: tuple[str, ...] = ()  # chat ids @-mentioned
    mentions_self: bool = False  # the bot itself was @-mentioned
    kind: Literal["text", "image"] = "text"
    media_path: Path | None = None  # a downloaded image, for kind == "image"
    quoted_text: str | None = None  # a quoted (replied-to) message, where the channel has it

    @property
    def is_private(self) -> bool:
        """True for a private chat with the bot."""
        return self.room_id is None


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """A change to a room: the bot joined it, or its topic changed."""

    kind: Literal["join", "topic"]
    room_id: str
    topic: str
    old_topic: str | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message the bot sends: to a room (with @-mentions) or to a person."""

    text: str
    room_id: str | None = None
    person_id: str | None = None
    mentions: tuple[str, ...] = field(default=())
    image_path: Path | None = None
    keys: tuple[str, ...] = ()  # the outbox keys this send carries (for logs and tests)


class ChannelError(Exception):
    """A send failed; the outbox retries it later."""


MessageHandler = Callable[[Incoming], Awaitable[None]]
RoomEventHandler = Callable[[RoomEvent], Awaitable[None]]


class Channel(Protocol):
    """A chat transport."""

    name: str

    @property
    def self_id(self) -> str:
        """The bot's own chat id."""
        ...

    async def start(self, on_message: MessageHandler, on_room_event: RoomEventHandler) -> None:
        """Connect and begin delivering incoming messages and room events."""
        ...

    async def stop(self) -> None:
        """Disconnect and release resources."""
        ...

    async def send(self, message: Outgoing) -> str | None:
        """Send one message; return the channel's message id if it has one.

        Raises ChannelError when the message could not be sent (the outbox retries).
        """
        ...

    async def room_topics(self) -> dict[str, str]:
        """The rooms the bot is in, by id, with their topics."""
        ...


def mention_names(names: Sequence[str]) -> str:
    """The '@名字 ' prefix WeChat shows for mentions."""
    return "".join(f"@{n}\u2005" for n in names)
