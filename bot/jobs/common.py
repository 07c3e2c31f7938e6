"""What every job shares: writing keyed messages, local-time labels, who sits on a rung."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from handlers.context import Outbound, Services
from storage.directory import BuildingInfo, Directory, PersonInfo
from storage.outbox import enqueue_many, message_row, room_accounts

RUNG_ROLES = {
    1: "grid_worker",
    2: "community_secretary",
    3: "street_officer",
    4: "district_officer",
}
RUNG_LABELS = {0: "物业（红色管家）", 1: "网格员", 2: "社区", 3: "街道", 4: "区县"}
TOP_RUNG = 4


def send_all(
    services: Services,
    session: Session,
    now: datetime,
    outs: Sequence[Outbound],
    via_room: str | None = None,
) -> int:
    """Write keyed messages to the outbox in the caller's transaction; how many were new.

    With via_room (a ticket's group), private messages go through the bot account sitting
    in that group — the one its people can be reached by — not this process's own.
    The caller's own changes are flushed first: on SQLite (pysqlite) a transaction begins
    only with the first write, and the outbox's SAVEPOINT outside one would commit by itself.
    All the messages are written with one INSERT.
    """
    session.flush()
    if via_room is not None:
        outs = through_groups(session, [(outs, via_room)])
    rows = []
    for out in outs:
        assert out.key, "bot-initiated messages carry a deterministic key"
        rows.append(message_row(**out.outbox_fields(out.key, now, services)))
    return enqueue_many(session, rows)


def through_groups(
    session: Session, sends: Sequence[tuple[Sequence[Outbound], str | None]]
) -> list[Outbound]:
    """Messages about tickets, each private one through the account sitting in its group.

    sends: (messages, the ticket's group) pairs; one query for all the groups' accounts.
    """
    accounts = room_accounts(session, {room for _, room in sends if room is not None})
    out: list[Outbound] = []
    for outs, room in sends:
        account = accounts.get(room) if room is not None else None
        out += [replace(o, account=account) if account and o.account is None else o for o in outs]
    return out


def short_time(services: Services, moment: datetime) -> str:
    """11月23日 10:20 in local time."""
    local = services.local(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def rung_people(directory: Directory, rung: int, building: BuildingInfo | None) -> list[PersonInfo]:
    """The people on a rung of the ladder for a building (admins when it has no building)."""
    if building is None:
        return [p for p in directory.people.values() if "admin" in p.roles]
    if rung == 0:
        return directory.stewards_of(building)
    return directory.holders(RUNG_ROLES[rung], building)
