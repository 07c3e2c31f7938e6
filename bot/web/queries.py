"""The dashboard's reads: plain functions of a Session, limited to the viewer's area."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from config.schema import Settings
from handlers.sla import is_overdue as sla_overdue
from storage.models import (
    OPEN_STATUSES,
    Message,
    Person,
    PossibleComplaint,
    Room,
    Ticket,
    TicketEvent,
    TicketReporter,
)
from storage.stats import Rates, daily_series, rates
from storage.stats import total as total_rates
from storage.tickets import ticket_by_number, ticket_events


@dataclass(slots=True)
class BoardFilter:
    """The ticket board's filters (already validated)."""

    status: str | None = None
    category: str | None = None
    building_id: int | None = None
    rung: int | None = None
    overdue: bool = False
    urgent: bool = False


def is_overdue(ticket: Ticket, settings: Settings, now: datetime) -> bool:
    """An open ticket whose first unmet deadline has passed (as `#逾期` and the digest say)."""
    return sla_overdue(ticket, now)


def overdue_condition(now: datetime) -> list[ColumnElement[bool]]:
    """SQL for "overdue at now": open, past the stored first unmet deadline."""
    return [col(Ticket.status).in_(list(OPEN_STATUSES)), col(Ticket.overdue_at) <= now]


def board(
    session: Session,
    scope: list[ColumnElement[bool]],
    f: BoardFilter,
    settings: Settings,
    now: datetime,
    limit: int,
) -> list[Ticket]:
    """Tickets matching the filters, newest first."""
    where = list(scope)
    if f.status:
        where.append(col(Ticket.status) == f.status)
    if f.category:
        where.append(col(Ticket.category) == f.category)
    if f.building_id is not None:
        where.append(col(Ticket.building_id) == f.building_id)
    if f.rung is not None:
        where.append(col(Ticket.rung) == f.rung)
    if f.urgent:
        where.append(col(Ticket.urgent).is_(True))
    newest = col(Ticket.number).desc()
    if f.overdue:
        # the newest overdue, picked among the open tickets (ix_ticket_open_overdue holds
        # status, overdue_at and number) and only then read: ordered by number + 0, as
        # otherwise SQLite walks every ticket's number backwards looking for the few overdue
        picked = (
            select(Ticket.id)
            .where(*where, *overdue_condition(now))
            .order_by((col(Ticket.number) + 0).desc())
            .limit(limit)
        )
        q = select(Ticket).where(col(Ticket.id).in_(picked.scalar_subquery()))
        return list(session.exec(q.order_by(newest)))
    return list(session.exec(select(Ticket).where(*where).order_by(newest).limit(limit)))


@dataclass(slots=True)
class AreaCounts:
    """Open, overdue and resolved-today counts of one area."""

    open: int = 0
    overdue: int = 0
    resolved_today: int = 0


def area_counts(
    session: Session,
    scope: list[ColumnElement[bool]],
    settings: Settings,
    now: datetime,
    today: datetime,
) -> dict[tuple[int | None, int | None], AreaCounts]:
    """Counts keyed by (community_id, building_id)."""
    out: dict[tuple[int | None, int | None], AreaCounts] = {}
    late = func.count().filter(col(Ticket.overdue_at) <= now)
    # grouped in the order of ix_ticket_open_overdue (status, building, community, overdue_at):
    # one pass over the index, no sort (SQLite otherwise scans the whole table for the order)
    keys = (col(Ticket.status), col(Ticket.building_id), col(Ticket.community_id))
    open_rows = session.exec(
        select(*keys, func.count(), late)  # type: ignore[call-overload]
        .where(*scope, col(Ticket.status).in_(list(OPEN_STATUSES)))
        .group_by(*keys)
    ).all()
    for _status, building_id, community_id, n, n_late in open_rows:
        c = out.setdefault((community_id, building_id), AreaCounts())
        c.open += int(n)
        c.overdue += int(n_late or 0)
    # a day's resolutions are few: read them from the resolved_at index and count here (a
    # GROUP BY would tempt SQLite into skipping through the per-building index instead)
    resolved_rows = session.exec(
        select(Ticket.building_id, Ticket.community_id).where(
            *scope, col(Ticket.resolved_at) >= today, col(Ticket.status) != "cancelled"
        )
    ).all()
    for building_id, community_id in resolved_rows:
        out.setdefault((community_id, building_id), AreaCounts()).resolved_today += 1
    return out


@dataclass(slots=True)
class OverviewFigures:
    """What the overview page shows, read in one transaction."""

    counts: dict[tuple[int | None, int | None], AreaCounts]
    series: list[tuple[date, int, int]]
    total: Rates
    by_category: dict[object, Rates]


def overview_figures(
    session: Session,
    *,
    scope: list[ColumnElement[bool]],
    building_ids: Collection[int] | None,
    settings: Settings,
    now: datetime,
    today_start: datetime,
    trend_first: date,
    period_start: datetime,
    period_end: datetime,
) -> OverviewFigures:
    """The overview's queries: area counts, the 30-day trend, the rates and rates by category."""
    by_category = rates(
        session, period_start, period_end, building_ids=building_ids, group_by="category"
    )
    return OverviewFigures(
        counts=area_counts(session, scope, settings, now, today_start),
        series=daily_series(session, trend_first, 30, settings.tz, building_ids),
        # every ticket of the period is in exactly one category: the total is their sum
        total=total_rates(by_category.values()),
        by_category=by_category,
    )


@dataclass(slots=True)
class TicketDetail:
    """A ticket with its log, its reporters and the messages that made it."""

    ticket: Ticket
    events: list[TicketEvent]
    reporters: list[TicketReporter]
    messages: list[Message]
    names: dict[str, str] = field(default_factory=dict)
    rooms: dict[str, str] = field(default_factory=dict)


def ticket_detail(session: Session, number: int) -> TicketDetail | None:
    """Everything the ticket page shows."""
    t = ticket_by_number(session, number)
    if t is None:
        return None
    assert t.id is not None
    events = ticket_events(session, t.id)
    reporters = list(
        session.exec(
            select(TicketReporter)
            .where(TicketReporter.ticket_id == t.id)
            .order_by(col(TicketReporter.time))
        )
    )
    ids = {t.source_message_id, *(r.message_id for r in reporters), *(e.message_id for e in events)}
    ids.discard(None)
    messages = list(
        session.exec(
            select(Message)
            .where(
                or_(
                    col(Message.id).in_(sorted(i for i in ids if i)), col(Message.ticket_id) == t.id
                )
            )
            .order_by(col(Message.time), col(Message.id))
        )
    )
    people = {t.reporter_id, t.assignee_id, *(e.actor_id for e in events)}
    people |= {r.person_id for r in reporters}
    people.discard(None)
    names = {
        p.id: p.name
        for p in session.exec(select(Person).where(col(Person.id).in_(sorted(people))))  # type: ignore[arg-type]
    }
    room_ids = {m.room_id for m in messages if m.room_id}
    rooms = {
        r.id: r.topic for r in session.exec(select(Room).where(col(Room.id).in_(sorted(room_ids))))
    }
    return TicketDetail(t, events, reporters, messages, names, rooms)


def possible_complaints(
    session: Session, building_ids: frozenset[int] | None, status: str, limit: int = 200
) -> list[tuple[PossibleComplaint, str, str | None]]:
    """Possible complaints in the area with the sender's name and the room topic."""
    q = select(PossibleComplaint).where(PossibleComplaint.status == status)
    if building_ids is not None:
        q = q.where(col(PossibleComplaint.building_id).in_(sorted(building_ids)))
    rows = list(session.exec(q.order_by(col(PossibleComplaint.id).desc()).limit(limit)))
    names = {
        p.id: p.name
        for p in session.exec(
            select(Person).where(col(Person.id).in_(sorted({r.sender_id for r in rows})))
        )
    }
    topics = {r.id: r.topic for r in session.exec(select(Room))}
    return [
        (r, names.get(r.sender_id, r.sender_id), topics.get(r.room_id) if r.room_id else None)
        for r in rows
    ]


def ledger_rows(
    session: Session, scope: list[ColumnElement[bool]], start: datetime, end: datetime
) -> tuple[list[Ticket], dict[str, str]]:
    """Tickets reported in [start, end) in the area, with the names of the people in them."""
    tickets = list(
        session.exec(
            select(Ticket)
            .where(*scope, col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
            .order_by(col(Ticket.number))
        )
    )
    ids = {t.reporter_id for t in tickets} | {t.assignee_id for t in tickets if t.assignee_id}
    names = {
        p.id: p.name for p in session.exec(select(Person).where(col(Person.id).in_(sorted(ids))))
    }
    return tickets, names


def row_dict(obj: Any) -> dict[str, Any]:
    """A model row as a plain dict."""
    return dict(obj.model_dump())
