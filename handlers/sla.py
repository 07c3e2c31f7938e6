"""The "2341" rule: which deadline a ticket faces next, from its state.

Respond within 20 minutes, a plan within 30, a written reply within 4 hours for major
tickets, a solution within a day — all counted from the report. A resolved ticket waits for
its rating until it is closed automatically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from config.schema import Settings
from storage.models import Ticket


def deadlines(ticket: Ticket, settings: Settings) -> list[tuple[str, datetime]]:
    """Every deadline of a ticket, in order, as (kind, moment)."""
    sla = settings.sla
    start = ticket.created_at
    out = [
        ("response", start + timedelta(minutes=sla.response_minutes)),
        ("plan", start + timedelta(minutes=sla.plan_minutes)),
    ]
    if ticket.major or ticket.urgent:
        out.append(("reply", start + timedelta(hours=sla.reply_hours)))
    out.append(("solution", start + timedelta(hours=sla.solution_hours)))
    return out


def _met(ticket: Ticket, kind: str) -> bool:
    return {
        "response": ticket.first_response_at is not None,
        "plan": ticket.plan_at is not None,
        "reply": ticket.reply_at is not None or ticket.plan_at is not None,
        "solution": ticket.resolved_at is not None,
    }[kind]


def next_deadline(ticket: Ticket, settings: Settings) -> tuple[str, datetime] | None:
    """The first deadline not yet met (or the automatic close of a resolved ticket)."""
    if ticket.status in ("closed", "cancelled"):
        return None
    if ticket.status == "resolved":
        assert ticket.resolved_at is not None
        return ("rating", ticket.resolved_at + timedelta(hours=settings.tickets.auto_close_hours))
    for kind, at in deadlines(ticket, settings):
        if not _met(ticket, kind):
            return kind, at
    return None


def refresh_deadline(ticket: Ticket, settings: Settings) -> None:
    """Set the ticket's next deadline from its state (call after every transition)."""
    nxt = next_deadline(ticket, settings)
    ticket.next_deadline_kind, ticket.next_deadline_at = nxt if nxt else (None, None)


def record_response(ticket: Ticket, now: datetime, settings: Settings) -> None:
    """The first response (a claim): stamp it and whether it was in time."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        limit = ticket.created_at + timedelta(minutes=settings.sla.response_minutes)
        ticket.responded_on_time = now <= limit


def record_resolution(ticket: Ticket, now: datetime, settings: Settings) -> None:
    """The solution (办结): stamp it and whether it was within the solution time."""
    ticket.resolved_at = now
    limit = ticket.created_at + timedelta(hours=settings.sla.solution_hours)
    ticket.resolved_on_time = now <= limit
