"""Messages, people and tickets: the rows a handled message leaves behind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from storage.db import ADVISORY_LOCK, Batched, Database, batched, held_locks, later
from storage.models import (
    OPEN_STATUSES,
    Counter,
    Message,
    Person,
    PossibleComplaint,
    Ticket,
    TicketEvent,
    TicketReporter,
)
from storage.plain import Plain
from storage.sql import insert_ignore_returning_id


def _insert_ignore(
    model: Any, columns: Sequence[str], returning: Any = None, key: str | None = None
) -> Plain:
    """INSERT … ON CONFLICT DO NOTHING of these columns (named as parameters), per dialect.

    On PostgreSQL many rows go in one statement (Plain's ``together``), unless it returns
    something and has no ``key`` (a unique column among them) by which each row would find
    what it returned."""

    def build(dialect: str) -> Any:
        base = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
        stmt = base.values({c: bindparam(c) for c in columns}).on_conflict_do_nothing()
        if returning is None:
            return stmt
        if key is None:
            return stmt.returning(returning)
        return stmt.returning(getattr(model, key), returning)

    return Plain(build, together=returning is None or key is not None, key=key)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """The outcome of storing an incoming message."""

    id: int
    duplicate: bool  # the channel delivered it before
    handled: bool  # ... and it was fully handled then


def store_message(
    session: Session,
    *,
    channel_message_id: str,
    room_id: str | None,
    sender_id: str,
    sender_name: str,
    text: str,
    time: datetime,
    now: datetime,
    kind: str = "text",
    media_path: str | None = None,
) -> StoredMessage:
    """Store a message once; a replay returns the first copy."""
    new_id = insert_ignore_returning_id(
        session,
        Message,
        {
            "channel_message_id": channel_message_id,
            "room_id": room_id,
            "sender_id": sender_id,
            "sender_name": sender_name,
            "text": text,
            "time": time,
            "received_at": now,
            "kind": kind,
            "media_path": media_path,
            "handled": False,
        },
    )
    if new_id is not None:
        return StoredMessage(new_id, False, False)
    existing = (
        session.connection()
        .execute(
            select(Message.id, Message.handled).where(
                Message.channel_message_id == channel_message_id
            )
        )
        .one()
    )
    return StoredMessage(int(existing[0]), True, bool(existing[1]))


_MARK_HANDLED = Plain(
    update(Message)
    .where(col(Message.id) == bindparam("mid"))
    .values(handled=True, intent=bindparam("intent"), ticket_id=bindparam("tid"))
)


def mark_handled(
    session: Session, message_id: int, intent: str | None, ticket_id: int | None = None
) -> None:
    """Record that a message was fully handled (in the same transaction as its effects)."""
    _MARK_HANDLED.execute(session, {"mid": message_id, "intent": intent, "tid": ticket_id})


def mark_handled_later(
    session: Session, message_id: int, intent: str | None, ticket_id: int | None = None
) -> None:
    """mark_handled, written at the end of the transaction with the others (storage.db.later)."""
    later(session, _MARK_HANDLED, {"mid": message_id, "intent": intent, "tid": ticket_id})


def unhandled_messages(session: Session, limit: int = 1000) -> list[Message]:
    """Messages stored but not handled (the process stopped in between)."""
    return list(
        session.exec(
            select(Message).where(Message.handled == False).order_by(col(Message.id)).limit(limit)  # noqa: E712
        )
    )


def ensure_person(session: Session, person_id: str, name: str, now: datetime) -> Person:
    """The person with this chat id, created on first sight; their display name kept fresh."""
    person = session.get(Person, person_id)
    if person is None:
        person = Person(id=person_id, name=name, created_at=now)
        session.add(person)
        session.flush()
    elif name and person.name != name and not person.erased:
        person.name = name
        session.add(person)
    return person


_COUNTER_INIT = _insert_ignore(Counter, ("name", "value"))
_COUNTER_NEXT = Plain(
    update(Counter)
    .where(col(Counter.name) == "ticket")
    .values(value=col(Counter.value) + 1)
    .returning(col(Counter.value))
)


def next_number(session: Session, first: int) -> int:
    """The next ticket number, unique across processes (the counter row is locked)."""
    row = _COUNTER_NEXT.first(session)
    if row is None:
        # the first ticket: the row is created once, by whichever process gets there first
        # (the others wait for it, then count on from it)
        _COUNTER_INIT.execute(session, {"name": "ticket", "value": first - 1})
        row = _COUNTER_NEXT.first(session)
    assert row is not None
    return int(row[0])


def add_event(
    session: Session,
    ticket: Ticket,
    kind: str,
    now: datetime,
    actor_id: str | None,
    *,
    message_id: int | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Append an event to a ticket's log."""
    ev = TicketEvent(
        **event_row(ticket, kind, now, actor_id, message_id=message_id, detail=detail, data=data)
    )
    session.add(ev)
    return ev


_EVENT_COLUMNS = ("ticket_id", "kind", "actor_id", "time", "message_id", "detail", "data")
_EVENT = Plain(insert(TicketEvent).values({c: bindparam(c) for c in _EVENT_COLUMNS}))
_REPORTER = _insert_ignore(
    TicketReporter, ("ticket_id", "person_id", "message_id", "time"), col(TicketReporter.id)
)


# every column but the id: a new ticket's row is written whole, as its object holds it
_TICKET_TABLE: sa.Table = Ticket.__table__  # type: ignore[attr-defined]
_TICKET_COLUMNS = tuple(c.name for c in _TICKET_TABLE.columns if c.name != "id")
_TICKET = Plain(
    insert(Ticket).values({c: bindparam(c) for c in _TICKET_COLUMNS}).returning(col(Ticket.id))
)
_FIRST_REPORTER = Plain(
    insert(TicketReporter).values(
        {c: bindparam(c) for c in ("ticket_id", "person_id", "message_id", "time")}
    )
)


def event_row(
    ticket: Ticket,
    kind: str,
    now: datetime,
    actor_id: str | None,
    *,
    message_id: int | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event of a ticket's log as a row, for add_events."""
    assert ticket.id is not None
    return {
        "ticket_id": ticket.id,
        "kind": kind,
        "actor_id": actor_id,
        "time": now,
        "message_id": message_id,
        "detail": detail,
        "data": data,
    }


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append many events (event_rows) to tickets' logs with one INSERT."""
    if rows:
        session.connection().execute(insert(TicketEvent), list(rows))


def create_ticket(
    session: Session,
    *,
    first_number: int,
    category: str,
    urgent: bool,
    summary: str,
    location: str | None,
    building_id: int | None,
    community_id: int | None,
    room_id: str | None,
    reporter_id: str,
    keywords: str | None = None,
    message_id: int | None,
    now: datetime,
    source: str = "group",
    major: bool = False,
    prepare: Callable[[Ticket], None] | None = None,
    data: dict[str, Any] | None = None,
) -> Ticket:
    """Open a ticket with its first event and first reporter: the ticket, in the session.

    ``prepare`` sets what follows from the new ticket's fields before it is written (its
    deadlines, handlers/sla.refresh_deadline). The row goes in whole with one INSERT, and
    the object the session holds is the one written: no SELECT to load it back, no UPDATE
    after. This is the path of every new complaint.
    """
    session.flush()  # what the caller added (the reporter's row) goes in first
    ticket = Ticket(
        number=next_number(session, first_number),
        category=category,
        urgent=urgent,
        major=major or urgent,
        summary=summary,
        keywords=keywords,
        location=location,
        building_id=building_id,
        community_id=community_id,
        room_id=room_id,
        reporter_id=reporter_id,
        status="new",
        rung=0,
        reporters_count=1,
        source=source,
        source_message_id=message_id,
        created_at=now,
        updated_at=now,
    )
    if prepare is not None:
        prepare(ticket)
    row = _TICKET.first(session, {c: getattr(ticket, c) for c in _TICKET_COLUMNS})
    assert row is not None
    ticket.id = int(row[0])
    for c in _TICKET_COLUMNS:  # as a load gives them back: in UTC
        value = getattr(ticket, c)
        if isinstance(value, datetime):
            setattr(ticket, c, value.astimezone(UTC))
    _FIRST_REPORTER.execute(
        session,
        {"ticket_id": ticket.id, "person_id": reporter_id, "message_id": message_id, "time": now},
    )
    _EVENT.execute(
        session,
        event_row(
            ticket, "created", now, reporter_id, message_id=message_id, detail=summary, data=data
        ),
    )
    # persistent as if loaded: the session tracks its changes from here
    make_transient_to_detached(ticket)
    session.add(ticket)
    return ticket


def open_tickets_like(
    session: Session, building_id: int | None, category: str, since: datetime
) -> list[Ticket]:
    """Open tickets of a building and category reported since a moment, newest first."""
    q = select(Ticket).where(
        col(Ticket.status).in_(list(OPEN_STATUSES)),
        Ticket.category == category,
        col(Ticket.created_at) >= since,
    )
    q = q.where(Ticket.building_id == building_id) if building_id is not None else q
    return list(session.exec(q.order_by(col(Ticket.created_at).desc()).limit(20)))


def second_ticket(
    session: Session,
    ticket: Ticket,
    person_id: str,
    message_id: int | None,
    now: datetime,
    major_reporters: int,
) -> bool:
    """Record a resident's 附议; False if they had reported it already."""
    assert ticket.id is not None
    already = session.exec(
        select(TicketReporter.id).where(
            TicketReporter.ticket_id == ticket.id, TicketReporter.person_id == person_id
        )
    ).first()
    if already is not None:
        return False
    session.add(
        TicketReporter(ticket_id=ticket.id, person_id=person_id, message_id=message_id, time=now)
    )
    ticket.reporters_count += 1
    if ticket.reporters_count >= major_reporters:
        ticket.major = True
    ticket.updated_at = now
    session.add(ticket)
    add_event(
        session,
        ticket,
        "seconded",
        now,
        person_id,
        message_id=message_id,
        data={"reporters": ticket.reporters_count},
    )
    return True


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """What the duplicate check needs of an open ticket (a plain row, no ORM object)."""

    id: int
    number: int
    category: str
    reporter_id: str
    summary: str
    keywords: str | None
    reporters_count: int


# how many open tickets, newest first, a complaint is compared with
LIKE_LIMIT = 20


def _like_query(category: Any, since: Any, building: Any = None) -> Any:
    """The open tickets a complaint is compared with (OpenTicket's columns), newest first:
    of its category opened since a moment, of its building when it has one. The values are
    parameters, or the columns of a list of complaints (see _ALIKE_AHEAD)."""
    q = sa.select(
        col(Ticket.id),
        col(Ticket.number),
        col(Ticket.category),
        col(Ticket.reporter_id),
        col(Ticket.summary),
        col(Ticket.keywords),
        col(Ticket.reporters_count),
    ).where(
        # the statuses are this module's constants, written into the SQL
        col(Ticket.status).in_([sa.literal_column(f"'{s}'") for s in OPEN_STATUSES]),
        col(Ticket.category) == category,
        col(Ticket.created_at) >= since,
    )
    if building is not None:
        q = q.where(col(Ticket.building_id) == building)
    return q.order_by(col(Ticket.created_at).desc()).limit(LIKE_LIMIT)


# built once: SQLAlchemy finds the compiled form in its cache without rebuilding it
_LIKE = {
    True: Plain(_like_query(bindparam("category"), bindparam("since"), bindparam("building"))),
    False: Plain(_like_query(bindparam("category"), bindparam("since"))),
}


def intake_lock_key(building_id: int | None, category: str) -> int:
    """The advisory lock key of taking in complaints of one building and category."""
    digest = hashlib.blake2b(f"intake:{building_id}:{category}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock_intake(session: Session, building_id: int | None, category: str) -> None:
    """Hold off other transactions taking in a complaint of this building and category.

    Finding no open ticket like it and opening one is check-then-insert: two complaints
    of one problem handled at once (two workers, two processes) would open two tickets.
    PostgreSQL: a transaction-scoped advisory lock on (building, category), taken before
    the check (or already, for the work run with it, by ``Database.run(..., locks=)``);
    SQLite has one writer at a time already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = intake_lock_key(building_id, category)
    if key not in held_locks(session):
        ADVISORY_LOCK.execute(session, {"key": key})


def open_ticket_rows_like(
    session: Session, building_id: int | None, category: str, since: datetime
) -> list[OpenTicket]:
    """open_tickets_like as plain rows: what a complaint is compared with, newest first."""
    params: dict[str, Any] = {"category": category, "since": since}
    if building_id is not None:
        params["building"] = building_id
    return [OpenTicket(*r) for r in _LIKE[building_id is not None].rows(session, params)]


_SECONDED = Plain(
    update(Ticket)
    .where(col(Ticket.id) == bindparam("tid"))
    .values(
        reporters_count=col(Ticket.reporters_count) + 1,
        major=or_(col(Ticket.major), col(Ticket.reporters_count) + 1 >= bindparam("major_at")),
        updated_at=bindparam("now"),
    )
    .returning(col(Ticket.reporters_count))
)


# PostgreSQL: the three statements of add_reporter in one (one round trip, not three).
# The CTEs share one snapshot: the count rises only if the reporter row went in, and the
# event is written from the count it rose to (JSON text as SQLAlchemy writes it).
_SECONDED_SQL = """
        WITH r AS (
            INSERT INTO ticketreporter (ticket_id, person_id, message_id, time)
            VALUES (:ticket_id, :person_id, :message_id, :time)
            ON CONFLICT DO NOTHING
            RETURNING ticket_id
        ), u AS (
            UPDATE ticket
            SET reporters_count = reporters_count + 1,
                major = (major OR reporters_count + 1 >= :major_at),
                updated_at = :time
            WHERE id = (SELECT ticket_id FROM r)
            RETURNING reporters_count
        ), e AS (
            INSERT INTO ticketevent (ticket_id, kind, actor_id, time, message_id, detail, data)
            SELECT CAST(:ticket_id AS INTEGER), 'seconded', CAST(:person_id AS VARCHAR),
                   CAST(:time AS TIMESTAMP WITH TIME ZONE), CAST(:message_id AS INTEGER),
                   NULL, CAST('{"reporters": ' || reporters_count || '}' AS JSON)
            FROM u
        )
        """
_SECONDED_PG = Plain(sa.text(_SECONDED_SQL + "SELECT reporters_count FROM u"))
# The same, written at the end of a transaction with the count its work foresaw (``later``'s
# expect): any other outcome (another count, or the person a reporter already) divides by
# zero, failing the transaction before its COMMIT, sent in the same round trip, can run
_SECONDED_FORESEEN = Plain(
    sa.text(
        _SECONDED_SQL
        + "SELECT CAST(:expect AS INTEGER)"
        + " / CAST((SELECT count(*) FROM u WHERE reporters_count = :expect) AS INTEGER)"
    )
)


def _seconded_pg_row(
    ticket_id: int, person_id: str, message_id: int | None, now: datetime, major_reporters: int
) -> dict[str, Any]:
    """_SECONDED_PG's parameters."""
    return {
        "ticket_id": ticket_id,
        "person_id": person_id,
        "message_id": message_id,
        "time": now,
        "major_at": major_reporters,
    }


def add_reporter(
    session: Session,
    ticket_id: int,
    person_id: str,
    message_id: int | None,
    now: datetime,
    major_reporters: int,
) -> int | None:
    """second_ticket in plain statements: the new count of reporters, None if already one.

    The reporter row goes in only if the person has none for this ticket (unique pair);
    the count is raised in SQL, so two processes seconding at once both count.
    """
    if session.get_bind().dialect.name == "postgresql":
        row = _SECONDED_PG.first(
            session, _seconded_pg_row(ticket_id, person_id, message_id, now, major_reporters)
        )
        return None if row is None else int(row[0])
    new = _REPORTER.first(
        session,
        {"ticket_id": ticket_id, "person_id": person_id, "message_id": message_id, "time": now},
    )
    if new is None:
        return None
    row = _SECONDED.first(session, {"tid": ticket_id, "major_at": major_reporters, "now": now})
    assert row is not None
    count = int(row[0])
    _EVENT.execute(
        session,
        {
            "ticket_id": ticket_id,
            "kind": "seconded",
            "actor_id": person_id,
            "time": now,
            "message_id": message_id,
            "detail": None,
            "data": {"reporters": count},
        },
    )
    return count


@dataclass(frozen=True, slots=True)
class IntakeKey:
    """What a complaint is compared with: the open tickets of its building and category
    opened since a moment, and which of them its sender reported already."""

    building_id: int | None
    category: str
    since: datetime
    person_id: str


@dataclass(slots=True)
class Alike:
    """The open tickets a complaint is compared with, as its transaction sees them.

    Fetched ahead for a group's complaints (``alike_ahead``, PostgreSQL), one object is
    shared by the complaints of one building and category, each of which brings it up to
    date with what it did (a reporter added, a ticket opened): the next one sees what it
    would have seen by querying. Seconding is then written at the end of the transaction
    (``deferred``), its count foreseen from here and checked as it is written.
    """

    # (opened at, ticket) newest first; None: the query has already left out older ones
    tickets: list[tuple[datetime | None, OpenTicket]]
    # (ticket id, person) pairs known to exist, of these tickets and the group's senders
    reporters: set[tuple[int, str]]
    deferred: bool = False

    def candidates(self, since: datetime) -> list[OpenTicket]:
        """The tickets opened at or after since, newest first."""
        return [t for at, t in self.tickets if at is None or at >= since]

    def second(
        self,
        session: Session,
        ticket: OpenTicket,
        person_id: str,
        message_id: int | None,
        now: datetime,
        major_reporters: int,
    ) -> int | None:
        """add_reporter through this view: the new count of reporters, None if already one."""
        if (ticket.id, person_id) in self.reporters:
            return None
        count: int | None
        if self.deferred:
            count = ticket.reporters_count + 1  # foreseen, checked as it is written
            row = _seconded_pg_row(ticket.id, person_id, message_id, now, major_reporters)
            later(session, _SECONDED_FORESEEN, row, expect=count)
        else:
            count = add_reporter(session, ticket.id, person_id, message_id, now, major_reporters)
        self.reporters.add((ticket.id, person_id))
        if count is not None:
            self.tickets = [
                (at, replace(t, reporters_count=count) if t.id == ticket.id else t)
                for at, t in self.tickets
            ]
        return count

    def opened(self, ticket: Ticket) -> None:
        """A ticket this transaction opened: the newest of the view."""
        assert ticket.id is not None and ticket.number is not None
        row = OpenTicket(
            ticket.id,
            ticket.number,
            ticket.category,
            ticket.reporter_id,
            ticket.summary,
            ticket.keywords,
            ticket.reporters_count,
        )
        self.tickets.insert(0, (ticket.created_at, row))
        del self.tickets[LIKE_LIMIT:]
        self.reporters.add((ticket.id, ticket.reporter_id))


def alike_now(session: Session, key: IntakeKey) -> Alike:
    """The view of one complaint, queried when it is handled; seconding written at once."""
    rows = open_ticket_rows_like(session, key.building_id, key.category, key.since)
    return Alike([(None, t) for t in rows], set())


def _alike_ahead_query() -> Any:
    """_like_query for a list of (building, category, since), one LATERAL join (PostgreSQL),
    with the opening time of each ticket and those of the group's senders who reported it."""
    k = (
        sa.func.unnest(
            bindparam("buildings", type_=postgresql.ARRAY(sa.Integer)),
            bindparam("categories", type_=postgresql.ARRAY(sa.String)),
            bindparam("since", type_=postgresql.ARRAY(sa.DateTime(timezone=True))),
        )
        .table_valued("building", "category", "since")
        .render_derived(name="k")
    )
    t = (
        _like_query(k.c.category, k.c.since, k.c.building)
        .add_columns(col(Ticket.created_at))
        .lateral("t")
    )
    known = (
        sa.select(func.array_agg(col(TicketReporter.person_id)))
        .where(
            col(TicketReporter.ticket_id) == t.c.id,
            col(TicketReporter.person_id)
            == sa.any_(bindparam("persons", type_=postgresql.ARRAY(sa.String))),
        )
        .scalar_subquery()
    )
    return sa.select(k.c.building, k.c.category, *t.c, known).select_from(k.join(t, sa.true()))


# planned once per connection: planning it for each group's keys (the ticket table's many
# indexes weighed for the join) cost the server more than running it
_ALIKE_AHEAD = Plain(_alike_ahead_query(), generic_plan=True)


def alike_ahead(session: Session, keys: list[IntakeKey]) -> Callable[[], list[Alike | None]]:
    """The views of a group's complaints, asked for by one statement before any is handled
    (PostgreSQL; None for each on SQLite, where a query costs no round trip, and for a
    complaint of no building): complaints of one building and category share one. The
    function returned reads them (see Batched's ``ahead``).

    Their intake locks are held (``Database.run``'s ``locks``, taken first: in the same
    round trip, before this statement), so no other transaction takes in a complaint of
    theirs meanwhile.
    """
    none: list[Alike | None] = [None] * len(keys)
    if session.get_bind().dialect.name != "postgresql":
        return lambda: none
    since: dict[tuple[int, str], datetime] = {}
    for k in keys:
        if k.building_id is not None:
            pair = (k.building_id, k.category)
            since[pair] = min(since.get(pair, k.since), k.since)
    if not since:
        return lambda: none
    params = {
        "persons": sorted({k.person_id for k in keys}),
        "buildings": [b for b, _ in since],
        "categories": [c for _, c in since],
        "since": list(since.values()),
    }
    asked = _ALIKE_AHEAD.ahead(session, [params], every=True)

    def views() -> list[Alike | None]:
        found: dict[tuple[int, str], list[tuple[datetime, OpenTicket]]] = {p: [] for p in since}
        known: set[tuple[int, str]] = set()
        for b, c, *ticket, at, reporters in asked()[0]:
            row = OpenTicket(*ticket)
            found[(b, c)].append((at, row))
            known.update((row.id, p) for p in reporters or ())
        shared: dict[tuple[int, str], Alike] = {}
        for pair, rows in found.items():
            rows.sort(key=lambda r: r[0], reverse=True)  # newest first
            # the pairs name their tickets: one set serves every view
            shared[pair] = Alike(list(rows), known, deferred=True)
        return [
            None if k.building_id is None else shared[(k.building_id, k.category)] for k in keys
        ]

    return views


@batched(ahead=alike_ahead)
def alike_of(session: Session, key: IntakeKey) -> Alike | None:
    """A complaint's view, fetched ahead with its group's (see alike_ahead); alone, None:
    the complaint queries its own when handled (alike_now)."""
    return None


def ask_alike_ahead(db: Database, key: IntakeKey) -> tuple[tuple[Batched[Any, Any], Any], ...]:
    """What a complaint's work asks ``Database.run`` to fetch ahead (its ``before``): its
    view on PostgreSQL; nothing on SQLite, where the complaint queries when it runs."""
    return () if db.is_sqlite else ((alike_of, key),)


def ticket_by_number(session: Session, number: int) -> Ticket | None:
    """A ticket by its human-friendly number."""
    return session.exec(select(Ticket).where(Ticket.number == number)).first()


def ticket_events(session: Session, ticket_id: int) -> list[TicketEvent]:
    """A ticket's log, oldest first."""
    return list(
        session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(col(TicketEvent.id))
        )
    )


_POSSIBLE_COLUMNS = (
    "message_id",
    "room_id",
    "building_id",
    "community_id",
    "sender_id",
    "text",
    "category",
    "confidence",
    "created_at",
    "status",
)
_POSSIBLE = Plain(
    insert(PossibleComplaint).values({c: bindparam(c) for c in _POSSIBLE_COLUMNS}),
    together=True,
)


def add_possible_complaint_later(
    session: Session,
    *,
    message_id: int,
    room_id: str | None,
    building_id: int | None,
    community_id: int | None,
    sender_id: str,
    text: str,
    category: str | None,
    confidence: float,
    now: datetime,
) -> None:
    """Keep a message the classifier was unsure of for the stewards to look at (written
    at the end of the transaction with the others like it: storage.db.later)."""
    later(
        session,
        _POSSIBLE,
        {
            "message_id": message_id,
            "room_id": room_id,
            "building_id": building_id,
            "community_id": community_id,
            "sender_id": sender_id,
            "text": text,
            "category": category,
            "confidence": confidence,
            "created_at": now,
            "status": "open",
        },
    )


def window_start(now: datetime, hours: float) -> datetime:
    """The start of a look-back window."""
    return now - timedelta(hours=hours)


def ticket_for_update(session: Session, number: int) -> Ticket | None:
    """A ticket by number, row-locked for a transition (PostgreSQL; SQLite has one writer)."""
    return session.exec(select(Ticket).where(Ticket.number == number).with_for_update()).first()


def ticket_reporters(session: Session, ticket_id: int) -> list[Person]:
    """Everyone who reported a ticket, the first reporter first."""
    rows = session.exec(
        select(Person)
        .join(TicketReporter, col(TicketReporter.person_id) == col(Person.id))
        .where(TicketReporter.ticket_id == ticket_id)
        .order_by(col(TicketReporter.time), col(TicketReporter.id))
    )
    return list(rows)


def is_reporter(session: Session, ticket_id: int, person_id: str) -> bool:
    """Whether a person reported (or seconded) a ticket."""
    return (
        session.exec(
            select(TicketReporter.id).where(
                TicketReporter.ticket_id == ticket_id, TicketReporter.person_id == person_id
            )
        ).first()
        is not None
    )


def person_named(session: Session, name: str) -> Person | None:
    """A person by display name (the most recently seen first: names are not unique)."""
    return session.exec(
        select(Person).where(Person.name == name).order_by(col(Person.created_at).desc())
    ).first()


def open_tickets_of(
    session: Session,
    *,
    assignee_id: str,
    building_ids: Collection[int],
    min_rung: int | None,
    limit: int = 50,
) -> list[Ticket]:
    """Open tickets a person should act on, oldest first.

    Those assigned to them; unassigned ones of their buildings; and, for people on the
    ladder (min_rung not None), those of their buildings escalated to their rung or above.
    """
    mine = col(Ticket.assignee_id) == assignee_id
    conds = [mine]
    if building_ids:
        in_area = col(Ticket.building_id).in_(list(building_ids))
        conds.append(in_area & col(Ticket.assignee_id).is_(None))
        if min_rung is not None:
            conds.append(in_area & (col(Ticket.rung) >= min_rung))
    q = (
        select(Ticket)
        .where(col(Ticket.status).in_(list(OPEN_STATUSES)), or_(*conds))
        .order_by(col(Ticket.created_at), col(Ticket.id))
        .limit(limit)
    )
    return list(session.exec(q))


def tickets_reported_by(session: Session, person_id: str, limit: int = 10) -> list[Ticket]:
    """Tickets a person reported or seconded: open ones first, then the latest."""
    q = (
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(TicketReporter.person_id == person_id)
        .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        .limit(200)
    )
    rows = list(session.exec(q))
    rows.sort(key=lambda t: t.status not in OPEN_STATUSES)  # stable: newest first in each
    return rows[:limit]


def resolved_unrated_before(session: Session, moment: datetime, limit: int = 500) -> list[Ticket]:
    """Resolved tickets still waiting for a rating, resolved at or before a moment."""
    return list(
        session.exec(
            select(Ticket)
            .where(Ticket.status == "resolved", col(Ticket.resolved_at) <= moment)
            .order_by(col(Ticket.resolved_at), col(Ticket.id))
            .limit(limit)
            .with_for_update()
        )
    )


def earliest_resolution_unrated(session: Session) -> datetime | None:
    """The resolution time of the oldest resolved ticket still waiting for its rating."""
    return session.exec(
        select(func.min(Ticket.resolved_at)).where(Ticket.status == "resolved")
    ).first()


@dataclass(frozen=True, slots=True)
class NewMessage:
    """An incoming message to store (stored with its sender, once by channel id)."""

    channel_message_id: str
    room_id: str | None
    sender_id: str
    sender_name: str
    text: str
    time: datetime
    received_at: datetime
    kind: str = "text"
    media_path: str | None = None
    # the sender's row may be missing (not seen by this process): make sure it exists
    new_sender: bool = True
    # chit-chat: stored as handled, with this intent, in the same statement
    intent: str | None = None

    def row(self) -> dict[str, Any]:
        """The message table's columns."""
        return {
            "channel_message_id": self.channel_message_id,
            "room_id": self.room_id,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
            "text": self.text,
            "kind": self.kind,
            "media_path": self.media_path,
            "time": self.time,
            "received_at": self.received_at,
            "handled": self.intent is not None,
            "intent": self.intent,
        }


_MESSAGE_INSERT = _insert_ignore(
    Message,
    (
        "channel_message_id",
        "room_id",
        "sender_id",
        "sender_name",
        "text",
        "kind",
        "media_path",
        "time",
        "received_at",
        "handled",
        "intent",
    ),
    col(Message.id),
    key="channel_message_id",
)
_PERSON_INSERT = _insert_ignore(Person, ("id", "name", "created_at", "erased"))
_RENAME = Plain(
    update(Person)
    .where(
        col(Person.id) == bindparam("pid"),
        col(Person.name) != bindparam("new_name"),
        col(Person.erased) == False,  # noqa: E712
    )
    .values(name=bindparam("new_name"))
)


def _insert_messages(session: Session, msgs: list[NewMessage]) -> Callable[[], dict[str, int]]:
    """INSERT … ON CONFLICT DO NOTHING of many messages, asked ahead (Plain.ahead): the
    function returned gives the new ids by channel id.

    Channel ids that already existed (or come twice in msgs) are absent from the answer.
    """
    rows: dict[str, dict[str, Any]] = {}
    for m in msgs:
        rows.setdefault(m.channel_message_id, m.row())
    found = _MESSAGE_INSERT.ahead(session, list(rows.values()), returning=True)
    return lambda: {cid: int(r[0]) for cid, r in zip(rows, found(), strict=True) if r is not None}


def _insert_senders(session: Session, msgs: list[NewMessage]) -> None:
    """Create the senders not seen before (and keep their display names fresh); asked
    ahead, sent with the messages."""
    people: dict[str, str] = {}
    for m in msgs:
        if m.new_sender:
            people[m.sender_id] = m.sender_name
    if not people:
        return
    now = msgs[0].received_at
    _PERSON_INSERT.ahead(
        session,
        [{"id": p, "name": n, "created_at": now, "erased": False} for p, n in people.items()],
    )
    renamed = [{"pid": p, "new_name": n} for p, n in people.items() if n]
    if renamed:
        _RENAME.ahead(session, renamed)


def store_messages_ahead(
    session: Session, msgs: list[NewMessage]
) -> Callable[[], list[StoredMessage]]:
    """Store messages once; a replay returns the first copy.

    Their senders are created (display names kept fresh) in the same transaction. One
    with an ``intent`` (chit-chat) is stored as handled, needing nothing more. In two
    steps: the statements are asked for ahead (on PostgreSQL sent with whatever else is
    asked for; see Batched), the function returned reads their outcome. Read at once, it is
    ``store_incoming.many``.
    """
    _insert_senders(session, msgs)
    inserted = _insert_messages(session, msgs)

    def outcome() -> list[StoredMessage]:
        new = inserted()
        old_ids = {m.channel_message_id for m in msgs} - new.keys()
        old: dict[str, tuple[int, bool]] = {}
        if old_ids:
            rows = session.connection().execute(
                select(Message.channel_message_id, Message.id, Message.handled).where(
                    col(Message.channel_message_id).in_(sorted(old_ids))
                )
            )
            old = {str(cid): (int(mid), bool(handled)) for cid, mid, handled in rows}
        out: list[StoredMessage] = []
        for m in msgs:
            cid = m.channel_message_id
            first = new.pop(cid, None)
            if first is not None:
                out.append(StoredMessage(first, False, False))
                old[cid] = (first, False)  # the same id again in this batch is a replay
            else:
                mid, handled = old[cid]
                out.append(StoredMessage(mid, True, handled))
        return out

    return outcome


@batched(ahead=store_messages_ahead, writes_only_ahead=True)
def store_incoming(session: Session, msg: NewMessage) -> StoredMessage:
    """Store one incoming message (see store_messages_ahead); the messages queued together,
    themselves or as the ``before`` of their handling, are stored by one call."""
    return store_messages_ahead(session, [msg])()[0]
