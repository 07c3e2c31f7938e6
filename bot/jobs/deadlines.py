"""The deadline sweep: reminders, the escalation ladder, urgent alerts, automatic close.

A ticket's next deadline lives in the database (Ticket.next_deadline_at/kind): it is the
moment the sweep must look at the ticket again. At that moment the sweep walks the ticket's
deadline points in order — the "2341" deadlines, then one more point every
`sla.escalate_every_hours` after the solution deadline — and for every point that has
passed without its step: the first miss reminds the assignee (or, if unclaimed, the
building's stewards) in the group with an @-mention and in private chat; every later miss
moves the ticket one rung up the ladder and tells the people on that rung privately. Each
point done is an event in the ticket's log, and each message has a deterministic key, so a
restart, a crash mid-run or a second process never repeats one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy import exists, func, update
from sqlmodel import Session, col, select

from bot.jobs.common import (
    RUNG_LABELS,
    TOP_RUNG,
    rung_people,
    send_all,
    short_time,
    through_groups,
)
from handlers.autoclose import close_one_unrated
from handlers.context import Outbound, Services
from handlers.privacy import mask_for_group, mask_phones
from handlers.sla import STEP_LABELS, deadlines, met, refresh_deadline
from storage.models import OPEN_STATUSES, Person, Ticket, TicketEvent
from storage.tickets import add_event, add_events, event_row

Point = tuple[str, datetime]  # (deadline kind, moment)
AutoClose = Callable[[Session, Ticket, datetime, Services], list[Outbound]]
"""Close a resolved ticket nobody rated in time; returns the messages to send (keyed)."""

STATUS_LABELS = {"new": "待认领", "claimed": "已认领", "planned": "已出方案", "resolved": "已办结"}
ACTIONS = {
    "response": "发送“#接单 {number}”认领",
    "plan": "发送“#方案 {number} 处理方案”",
    "reply": "发送“#方案 {number} 书面答复”",
    "solution": "办结后发送“#办结 {number} 说明”",
    "overdue": "办结后发送“#办结 {number} 说明”",
}
URGENT_LOOKBACK = timedelta(days=1)


def points(ticket: Ticket, services: Services) -> list[Point]:
    """Every deadline point of an open ticket, in time order."""
    s = services.settings
    out = deadlines(ticket, s)
    solution_at = out[-1][1]
    every = timedelta(hours=s.sla.escalate_every_hours)
    out += [("overdue", solution_at + every * k) for k in range(1, TOP_RUNG + 1)]
    return sorted(out, key=lambda p: p[1])


def _locked(session: Session, ticket_id: int) -> Ticket | None:
    """The ticket, row-locked for this transaction; None if another process holds it now.

    PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED — a ticket another process is working on
    is left to it. SQLite has one writer anyway and ignores the clause.
    """
    q = select(Ticket).where(col(Ticket.id) == ticket_id).with_for_update(skip_locked=True)
    return session.exec(q.execution_options(populate_existing=True)).first()


def _take(session: Session, ticket: Ticket, now: datetime) -> bool:
    """Claim the ticket for this transaction: False if another process changed it since read.

    PostgreSQL has locked the row already (FOR UPDATE); SQLite ignores that, so the claim is
    an UPDATE that only matches the row as it was read — the write lock then orders two
    processes, and the second finds the row changed and leaves it.
    """
    result = session.execute(
        update(Ticket)
        .where(
            col(Ticket.id) == ticket.id,
            col(Ticket.updated_at) == ticket.updated_at,
            col(Ticket.next_deadline_at) == ticket.next_deadline_at
            if ticket.next_deadline_at is not None
            else col(Ticket.next_deadline_at).is_(None),
        )
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        logger.debug("ticket #{} was being handled by another process", ticket.number)
        return False
    ticket.updated_at = now
    return True


def _claim(session: Session, ticket_ids: list[int], now: datetime) -> list[Ticket]:
    """Claim those of the tickets still due for this transaction, in the order given.

    One UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id: on PostgreSQL
    the rows are locked (a ticket another process is working on is left to it) and checked
    again once locked; SQLite ignores the clause, but its UPDATE reads and writes under the
    database's one write lock, so a second process finds the deadline moved and leaves it.
    """
    due = (
        select(Ticket.id)
        .where(col(Ticket.id).in_(ticket_ids), col(Ticket.next_deadline_at) <= now)
        .with_for_update(skip_locked=True)
    )
    claimed = set(
        session.execute(
            update(Ticket)
            .where(col(Ticket.id).in_(due.scalar_subquery()))
            .values(updated_at=now)
            .returning(col(Ticket.id))
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if not claimed:
        return []
    q = select(Ticket).where(col(Ticket.id).in_(claimed))
    by_id = {t.id: t for t in session.exec(q.execution_options(populate_existing=True))}
    return [by_id[i] for i in ticket_ids if i in by_id]


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


@dataclass(slots=True)
class _Writes:
    """What one batch of tickets writes, gathered to be written together."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sends: list[tuple[list[Outbound], str | None]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # assignees' names, by id


class DeadlineSweep:
    """DueWork: everything a ticket's passed deadlines ask for."""

    name = "deadlines"
    BATCH = 100  # tickets per transaction
    ROUND = 4  # batches at once

    def __init__(self, services: Services, auto_close: AutoClose | None = None) -> None:
        self.services = services
        self.auto_close = auto_close or close_one_unrated

    # --- when ---------------------------------------------------------------------------
    async def next_due(self, now: datetime) -> datetime | None:
        """The earliest stored deadline after now."""

        def query(session: Session) -> datetime | None:
            return session.exec(
                select(func.min(Ticket.next_deadline_at)).where(
                    col(Ticket.status).in_([*OPEN_STATUSES, "resolved"]),
                    col(Ticket.next_deadline_at) > now,
                )
            ).first()

        return await self.services.db.run(query)

    # --- what ---------------------------------------------------------------------------
    async def run(self, now: datetime) -> None:
        """Handle every ticket whose deadline is at or before now, a batch per transaction."""
        db = self.services.db
        due, urgent = await db.run(self._due, now)

        async def one(fn: Callable[[Session, int, datetime], None], ticket_id: int) -> None:
            try:
                await db.run(fn, ticket_id, now)
            except Exception:  # one ticket's trouble does not stop the others
                logger.exception(
                    "deadline work on ticket id {} failed at {}", ticket_id, now.isoformat()
                )

        async def batch(ids: list[int]) -> None:
            try:
                await db.run(self._handle, ids, now)
            except Exception:
                if len(ids) == 1:
                    logger.exception(
                        "deadline work on ticket id {} failed at {}", ids[0], now.isoformat()
                    )
                    return
                # one ticket's trouble does not stop the others: each on its own
                logger.warning("a deadline batch failed at {}: one ticket at a time", now)
                for i in ids:
                    await batch([i])

        for i in range(0, len(urgent), 64):
            await asyncio.gather(*(one(self._alert, t) for t in urgent[i : i + 64]))
        # a batch of tickets per transaction: claimed, read and written with a few
        # statements; a few batches at a time, side by side where the database has several
        # workers (on SQLite they share one commit, so a round bounds how long it writes)
        per_round = self.BATCH * self.ROUND
        for r in range(0, len(due), per_round):
            ids = due[r : r + per_round]
            await asyncio.gather(
                *(batch(ids[i : i + self.BATCH]) for i in range(0, len(ids), self.BATCH))
            )

    def _due(self, session: Session, now: datetime) -> tuple[list[int], list[int]]:
        due = session.exec(
            select(Ticket.id)
            .where(
                col(Ticket.status).in_([*OPEN_STATUSES, "resolved"]),
                col(Ticket.next_deadline_at) <= now,
            )
            .order_by(col(Ticket.next_deadline_at))
        ).all()
        alerted = exists().where(
            col(TicketEvent.ticket_id) == Ticket.id, col(TicketEvent.kind) == "alerted"
        )
        urgent = session.exec(
            select(Ticket.id).where(
                col(Ticket.urgent).is_(True),
                col(Ticket.status).in_(list(OPEN_STATUSES)),
                col(Ticket.created_at) >= now - URGENT_LOOKBACK,
                col(Ticket.created_at) <= now,
                ~alerted,
            )
        ).all()
        return [i for i in due if i is not None], [i for i in urgent if i is not None]

    def _handle(self, session: Session, ticket_ids: list[int], now: datetime) -> None:
        """The passed deadlines of some tickets: claim them, decide, write it all at once."""
        tickets = _claim(session, ticket_ids, now)
        if not tickets:
            return  # other processes got there first
        open_ = []
        for ticket in tickets:
            if ticket.status == "resolved":
                if ticket.next_deadline_kind == "rating":
                    outs = self.auto_close(session, ticket, now, self.services)
                    send_all(self.services, session, now, outs, ticket.room_id)
                    logger.info("ticket #{} closed automatically (not rated)", ticket.number)
                else:
                    refresh_deadline(ticket, self.services.settings)
            elif ticket.status not in OPEN_STATUSES:
                ticket.next_deadline_at = ticket.next_deadline_kind = None
            else:
                open_.append(ticket)
        if not open_:
            return
        # the points done already, and the assignees' names: one query each for the batch
        done: dict[int, set[tuple[str, str]]] = {t.id or 0: set() for t in open_}
        misses = dict.fromkeys(done, 0)
        for ticket_id, data in session.exec(
            select(TicketEvent.ticket_id, TicketEvent.data).where(
                col(TicketEvent.ticket_id).in_(list(done)),
                col(TicketEvent.kind).in_(["reminded", "escalated"]),
            )
        ).all():
            if data:
                done[ticket_id].add((str(data.get("deadline")), str(data.get("at"))))
                misses[ticket_id] += bool(data.get("deadline"))
        writes = _Writes()
        assignees = {t.assignee_id for t in open_ if t.assignee_id}
        if assignees:
            writes.names = dict(
                session.exec(
                    select(Person.id, Person.name).where(col(Person.id).in_(assignees))
                ).all()
            )
        for ticket in open_:
            self._decide(ticket, done[ticket.id or 0], misses[ticket.id or 0], now, writes)
        add_events(session, writes.events)
        send_all(self.services, session, now, through_groups(session, writes.sends))

    def _decide(
        self,
        ticket: Ticket,
        done: set[tuple[str, str]],
        misses: int,
        now: datetime,
        writes: _Writes,
    ) -> None:
        """Walk one open ticket's deadline points: remind, escalate, set the next one."""
        nxt: Point | None = None
        for kind, at in points(ticket, self.services):
            if met(ticket, kind):
                continue
            if at > now:
                nxt = (kind, at)
                break
            if (kind, _stamp(at)) in done:
                continue
            if misses == 0:
                self._remind(ticket, kind, at, now, writes)
            elif ticket.rung < TOP_RUNG:
                self._escalate(ticket, kind, at, now, writes)
            else:
                continue  # at the top already: the district has it
            misses += 1
        ticket.next_deadline_kind, ticket.next_deadline_at = nxt if nxt else (None, None)
        ticket.updated_at = now

    # --- the messages -------------------------------------------------------------------
    def _fields(
        self, ticket: Ticket, kind: str, at: datetime, names: dict[str, str]
    ) -> dict[str, str]:
        s = self.services
        building = s.directory.current.buildings.get(ticket.building_id or -1)
        assignee = names.get(ticket.assignee_id) if ticket.assignee_id else None
        return {
            "number": str(ticket.number),
            "category": s.classifier.categories.get(ticket.category, ticket.category),
            "place": mask_for_group(ticket.location or (building.label if building else "")),
            "deadline": STEP_LABELS.get(kind, kind),
            "due": short_time(s, at),
            "action": ACTIONS.get(kind, ACTIONS["solution"]).format(number=ticket.number),
            "summary": mask_phones(ticket.summary),
            "created": short_time(s, ticket.created_at),
            "status": STATUS_LABELS.get(ticket.status, ticket.status),
            "assignee": assignee if assignee is not None else "无人认领",
        }

    def _remind(
        self, ticket: Ticket, kind: str, at: datetime, now: datetime, writes: _Writes
    ) -> None:
        s = self.services
        d = s.directory.current
        building = d.buildings.get(ticket.building_id or -1)
        if ticket.assignee_id:
            person = d.person(ticket.assignee_id)
            owner = writes.names.get(ticket.assignee_id)
            people = [(ticket.assignee_id, person.name if person else owner or "")]
        else:
            people = [(p.id, p.name) for p in rung_people(d, 0, building)]
        f = self._fields(ticket, kind, at, writes.names)
        stamp = _stamp(at)
        base = f"remind:{ticket.id}:{kind}:{stamp}"
        outs: list[Outbound] = []
        if ticket.room_id:
            mentions = "".join(f"@{name}\u2005" for _, name in people)
            outs.append(
                Outbound(
                    s.settings.template("remind_group").format(mentions=mentions, **f),
                    room_id=ticket.room_id,
                    mentions=tuple(pid for pid, _ in people),
                    urgent=ticket.urgent,
                    quiet=True,
                    key=f"{base}:room",
                )
            )
        private = s.settings.template("remind_private").format(**f)
        for pid, _ in people:
            outs.append(Outbound(private, person_id=pid, urgent=ticket.urgent, key=f"{base}:{pid}"))
        ticket.reminded_at = now
        writes.events.append(
            event_row(
                ticket,
                "reminded",
                now,
                None,
                detail=f"{f['deadline']}时限已过，提醒{'、'.join(n for _, n in people) or '（无人）'}",
                data={"deadline": kind, "at": stamp, "to": [pid for pid, _ in people]},
            )
        )
        writes.sends.append((outs, ticket.room_id))
        logger.info("ticket #{}: {} deadline passed, reminded {}", ticket.number, kind, len(people))

    def _escalate(
        self, ticket: Ticket, kind: str, at: datetime, now: datetime, writes: _Writes
    ) -> None:
        s = self.services
        d = s.directory.current
        building = d.buildings.get(ticket.building_id or -1)
        old = ticket.rung
        new = old + 1
        people = rung_people(d, new, building)
        while not people and new < TOP_RUNG:
            new += 1  # nobody holds this rung here: the next one up hears of it
            people = rung_people(d, new, building)
        ticket.rung = new
        stamp = _stamp(at)
        f = self._fields(ticket, kind, at, writes.names)
        text = s.settings.template("escalate_private").format(rung=RUNG_LABELS[new], **f)
        writes.events.append(
            event_row(
                ticket,
                "escalated",
                now,
                None,
                detail=f"{f['deadline']}时限已过，升级到{RUNG_LABELS[new]}",
                data={
                    "deadline": kind,
                    "at": stamp,
                    "from": old,
                    "to": new,
                    "notified": [p.id for p in people],
                },
            )
        )
        outs = [
            Outbound(
                text,
                person_id=p.id,
                urgent=ticket.urgent,
                key=f"escalate:{ticket.id}:{kind}:{stamp}:{p.id}",
            )
            for p in people
        ]
        writes.sends.append((outs, ticket.room_id))
        logger.info("ticket #{}: {} deadline passed, rung {} -> {}", ticket.number, kind, old, new)

    def _alert(self, session: Session, ticket_id: int, now: datetime) -> None:
        ticket = _locked(session, ticket_id)
        if ticket is None or not _take(session, ticket, now):
            return
        already = session.exec(
            select(TicketEvent.id).where(
                TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "alerted"
            )
        ).first()
        if already is not None:
            return
        s = self.services
        d = s.directory.current
        building = d.buildings.get(ticket.building_id or -1)
        seen: dict[str, int] = {}
        for rung in range(TOP_RUNG + 1):
            for p in rung_people(d, rung, building):
                seen.setdefault(p.id, rung)
        assignee = session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
        names = {assignee.id: assignee.name} if assignee else {}
        f = self._fields(ticket, "response", ticket.created_at, names)
        text = s.settings.template("urgent_private").format(**f)
        add_event(
            session,
            ticket,
            "alerted",
            now,
            None,
            detail="紧急工单：已通知各级",
            data={"notified": list(seen), "rungs": sorted(set(seen.values()))},
        )
        send_all(
            s,
            session,
            now,
            [
                Outbound(text, person_id=pid, urgent=True, key=f"urgent:{ticket.id}:{pid}")
                for pid in seen
            ],
            via_room=ticket.room_id,
        )
        logger.warning("urgent ticket #{}: {} people on every rung told", ticket.number, len(seen))
