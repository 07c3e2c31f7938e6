"""The "2341" rule: which deadline a ticket faces next, from its state.

Respond within 20 minutes, a plan within 30, a written reply within 4 hours for major
tickets, a solution within a day — all counted from the report. A resolved ticket waits for
its rating until it is closed automatically. With `sla.working_time` the clock of a
non-urgent ticket runs only in working hours of working days (chinese-calendar: public
holidays off, make-up working days 调休 on); urgent tickets never wait.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import update
from sqlmodel import Session, col, select

from config.schema import Settings
from storage.models import OPEN_STATUSES, Ticket

STEP_LABELS = {
    "response": "响应",
    "plan": "方案",
    "reply": "书面答复",
    "solution": "办结",
    "rating": "评价",
    "overdue": "办结",
}


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """A working day in China: weekdays except public holidays, plus make-up days (调休)."""
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(day))
    except (ImportError, NotImplementedError):  # a year the package does not know
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def is_public_holiday(day: date) -> bool:
    """A named public holiday (国庆, 春节…), not an ordinary weekend."""
    try:
        import chinese_calendar

        holiday, name = chinese_calendar.get_holiday_detail(day)
        return bool(holiday and name)
    except (ImportError, NotImplementedError):
        return False


def next_workday(day: date) -> date:
    """The first working day on or after a day."""
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def add_working_time(start: datetime, span: timedelta, settings: Settings) -> datetime:
    """The moment a span of working time after start has passed (local working hours)."""
    sla = settings.sla
    tz = settings.tz
    local = start.astimezone(tz)
    left = span
    day = local.date()
    for _ in range(3660):  # ten years of days: a guard, never reached
        open_at = datetime.combine(day, sla.work_start, tzinfo=tz)
        close_at = datetime.combine(day, sla.work_end, tzinfo=tz)
        if is_workday(day) and local < close_at:
            begin = max(local, open_at)
            room = close_at - begin
            if left <= room:
                return (begin + left).astimezone(start.tzinfo)
            left -= room
        day += timedelta(days=1)
        local = datetime.combine(day, sla.work_start, tzinfo=tz)
    raise ValueError("working time does not end")


def after(ticket: Ticket, span: timedelta, settings: Settings) -> datetime:
    """The clock's start plus a span, in working time when configured (urgent: wall time).

    The 2341 clock starts at the report, and again when a resident's 不满意 reopens it.
    """
    start = ticket.reopened_at or ticket.created_at
    if settings.sla.working_time and not ticket.urgent:
        return add_working_time(start, span, settings)
    return start + span


def is_major(ticket: Ticket, settings: Settings) -> bool:
    """Major: urgent, reported by enough residents, or of a category marked major."""
    return (
        ticket.major
        or ticket.urgent
        or ticket.reporters_count >= settings.tickets.major_reporters
        or ticket.category in settings.tickets.major_categories
    )


def deadlines(ticket: Ticket, settings: Settings) -> list[tuple[str, datetime]]:
    """Every deadline of a ticket, in order, as (kind, moment)."""
    sla = settings.sla
    out = [
        ("response", after(ticket, timedelta(minutes=sla.response_minutes), settings)),
        ("plan", after(ticket, timedelta(minutes=sla.plan_minutes), settings)),
    ]
    if is_major(ticket, settings):
        out.append(("reply", after(ticket, timedelta(hours=sla.reply_hours), settings)))
    out.append(("solution", after(ticket, timedelta(hours=sla.solution_hours), settings)))
    return out


def deadline_of(ticket: Ticket, kind: str, settings: Settings) -> datetime | None:
    """The moment of one deadline of a ticket."""
    return dict(deadlines(ticket, settings)).get(kind)


def met(ticket: Ticket, kind: str) -> bool:
    """Whether the step a deadline asks for has been done."""
    return {
        "response": ticket.first_response_at is not None,
        "plan": ticket.plan_at is not None,
        "reply": ticket.reply_at is not None or ticket.plan_at is not None,
        "solution": ticket.resolved_at is not None,
        "overdue": ticket.resolved_at is not None,
        "rating": ticket.rating is not None or ticket.closed_at is not None,
    }[kind]


def next_deadline(ticket: Ticket, settings: Settings) -> tuple[str, datetime] | None:
    """The first deadline not yet met (or the automatic close of a resolved ticket)."""
    if ticket.status in ("closed", "cancelled"):
        return None
    if ticket.status == "resolved":
        assert ticket.resolved_at is not None
        return ("rating", ticket.resolved_at + timedelta(hours=settings.tickets.auto_close_hours))
    for kind, at in deadlines(ticket, settings):
        if not met(ticket, kind):
            return kind, at
    return None


def first_unmet(ticket: Ticket, settings: Settings) -> tuple[str, datetime] | None:
    """The first "2341" deadline an open ticket has not met; None when it is not open.

    Once that moment has passed the ticket is overdue (逾期) — the one definition `#逾期`,
    the digest, the board and the overview count, through the stored Ticket.overdue_at.
    """
    if ticket.status not in OPEN_STATUSES:
        return None
    return next_deadline(ticket, settings)


def refresh_overdue(ticket: Ticket, settings: Settings) -> None:
    """Store the moment (and the step) past which the ticket is overdue, from its state.

    Call after anything that changes a ticket's status, its met steps (first response,
    plan, reply, resolution), reopened_at, urgent, major or reporters_count.
    """
    due = first_unmet(ticket, settings)
    ticket.overdue_kind, ticket.overdue_at = due if due else (None, None)


def refresh_deadline(ticket: Ticket, settings: Settings) -> None:
    """Set the ticket's next deadline and its overdue moment from its state (every transition)."""
    nxt = next_deadline(ticket, settings)
    ticket.next_deadline_kind, ticket.next_deadline_at = nxt if nxt else (None, None)
    due = nxt if ticket.status in OPEN_STATUSES else None
    ticket.overdue_kind, ticket.overdue_at = due if due else (None, None)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """An open ticket whose first unmet deadline (stored: Ticket.overdue_at) has passed."""
    return (
        ticket.status in OPEN_STATUSES
        and ticket.overdue_at is not None
        and ticket.overdue_at <= now
    )


def record_response(ticket: Ticket, now: datetime, settings: Settings) -> None:
    """The first response (a claim): stamp it and whether it was in time."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        limit = deadline_of(ticket, "response", settings)
        ticket.responded_on_time = limit is not None and now <= limit


def record_resolution(ticket: Ticket, now: datetime, settings: Settings) -> None:
    """The solution (办结): stamp it and whether it was within the solution time."""
    ticket.resolved_at = now
    limit = deadline_of(ticket, "solution", settings)
    ticket.resolved_on_time = limit is not None and now <= limit


def fill_overdue(session: Session, settings: Settings, batch: int = 2000) -> int:
    """Compute overdue_at for open tickets that have none yet (rows from before it was
    stored, or written by bulk loaders); returns how many were filled. Idempotent."""
    filled = 0
    last = 0
    while True:
        rows = list(
            session.exec(
                select(Ticket)
                .where(
                    col(Ticket.status).in_(list(OPEN_STATUSES)),
                    col(Ticket.overdue_at).is_(None),
                    col(Ticket.id) > last,
                )
                .order_by(col(Ticket.id))
                .limit(batch)
            )
        )
        if not rows:
            return filled
        changes = []
        for t in rows:
            due = first_unmet(t, settings)
            if due is not None:
                changes.append({"id": t.id, "overdue_kind": due[0], "overdue_at": due[1]})
        if changes:
            # one executemany UPDATE … WHERE id = ? for the batch (ORM bulk update by key);
            # the rows read are not kept: the session holds unchanged objects only weakly
            session.execute(update(Ticket), changes)
        filled += len(changes)
        assert rows[-1].id is not None
        last = rows[-1].id
