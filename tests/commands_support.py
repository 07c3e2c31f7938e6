"""Shared by the command tests: the stored state a refused command must leave untouched."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, SQLModel, select

from storage.models import (
    AuditLog,
    Counter,
    PossibleComplaint,
    RoleAssignment,
    Room,
    Ticket,
    TicketEvent,
    TicketReporter,
)
from tests.harness import Harness

ROOM1 = "阳光花园1号楼业主群"
ROOM3 = "阳光花园3号楼业主群"
ROOM5 = "和平新村5号楼业主群"
# every table a command may change (messages, people seen and the outbox always change)
DOMAIN_TABLES: tuple[type[SQLModel], ...] = (
    Ticket,
    TicketEvent,
    TicketReporter,
    RoleAssignment,
    Room,
    AuditLog,
    PossibleComplaint,
    Counter,
)


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every row of every domain table, in a stable order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for model in DOMAIN_TABLES:
        rows = [r.model_dump() for r in session.exec(select(model))]
        out[model.__name__] = sorted(rows, key=repr)
    return out


async def lines_to(h: Harness, room: str | None, name: str) -> list[str]:
    """What the bot said where a person wrote: the room, or their private chat."""
    return await h.bot_lines(room) if room is not None else await h.private(name)


async def unchanged(h: Harness, room: str | None, sender: str, text: str, **kw: Any) -> str:
    """Send a command that must be refused: storage stays as it was; returns the answer."""
    before = await h.db.run(snapshot)
    seen = len(await lines_to(h, room, sender))
    await h.say(room, sender, text, **kw)
    after = await h.db.run(snapshot)
    assert after == before, f"{text!r} by {sender} changed storage"
    new = (await lines_to(h, room, sender))[seen:]
    assert len(new) == 1, new
    return new[0]


async def complaint(h: Harness, room: str = ROOM3, who: str = "张阿姨", text: str = "") -> int:
    """A resident reports a problem; the new ticket's number."""
    await h.say(room, who, text or "3号楼2单元502门口楼道灯坏了好几天了")
    return max(t["number"] for t in await h.tickets())


async def events(h: Harness, number: int) -> list[str]:
    """A ticket's event kinds, in order."""
    return [e["kind"] for e in (await h.ticket(number))["events"]]
