"""A ticket's life: allowed transitions only, each one an event in the log.

new → claimed → planned → resolved → closed; claimed → resolved (no plan needed for a
quick fix); new/claimed/planned → cancelled; resolved → claimed again when the rating is
不满意 (one rung up the ladder, deadlines counted from the reopening); resolved → closed
by a rating or, unrated, after ``tickets.auto_close_hours``.

These are plain functions of a Session and a Ticket: the chat handlers and the clock's work
call them inside one transaction; a refused step raises DomainError before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from config.schema import Settings
from handlers.errors import DomainError
from handlers.sla import record_resolution, record_response, refresh_deadline
from storage.models import OPEN_STATUSES, RUNGS, Ticket
from storage.tickets import add_event, earliest_resolution_unrated, resolved_unrated_before

# status -> the statuses it may move to
ALLOWED: dict[str, frozenset[str]] = {
    "new": frozenset({"claimed", "cancelled"}),
    "claimed": frozenset({"planned", "resolved", "cancelled"}),
    "planned": frozenset({"planned", "resolved", "cancelled"}),
    "resolved": frozenset({"closed", "claimed"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
STATUS_LABELS: dict[str, str] = {
    "new": "待接单",
    "claimed": "处理中",
    "planned": "已出方案",
    "resolved": "已办结待评价",
    "closed": "已关闭",
    "cancelled": "已撤销",
}
RUNG_LABELS: tuple[str, ...] = ("物业", "网格", "社区", "街道", "区县")
TOP_RUNG = len(RUNGS) - 1
RATINGS: tuple[str, ...] = ("满意", "基本满意", "不满意")
SATISFIED: frozenset[str] = frozenset({"满意", "基本满意"})

# why a step is refused, by the status the ticket is in
_REFUSED: dict[str, str] = {
    "new": "工单 #{number} 还没有人接单，请先发送 #接单 {number}",
    "claimed": "工单 #{number} 正在处理中",
    "planned": "工单 #{number} 已有处理方案，正在处理中",
    "resolved": "工单 #{number} 已办结，正在等待居民评价",
    "closed": "工单 #{number} 已关闭",
    "cancelled": "工单 #{number} 已撤销",
}


class TransitionRefused(DomainError):
    """The ticket's status does not allow this step."""


@dataclass(frozen=True, slots=True)
class Act:
    """Who does a step, when, and from which message."""

    actor_id: str | None
    now: datetime
    settings: Settings
    message_id: int | None = None


def refused(ticket: Ticket, extra: str = "") -> TransitionRefused:
    """The polite refusal for a step the ticket's status does not allow."""
    text = _REFUSED[ticket.status].format(number=ticket.number)
    return TransitionRefused(f"{text}{extra}。")


def _move(ticket: Ticket, to: str, act: Act) -> None:
    if to not in ALLOWED[ticket.status]:
        raise refused(ticket)
    ticket.status = to
    ticket.updated_at = act.now


def _event(
    session: Session,
    ticket: Ticket,
    kind: str,
    act: Act,
    *,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    add_event(
        session,
        ticket,
        kind,
        act.now,
        act.actor_id,
        message_id=act.message_id,
        detail=detail,
        data=data,
    )


def refresh(ticket: Ticket, settings: Settings) -> None:
    """The next deadline from the ticket's state (a reopened ticket's count from reopening)."""
    refresh_deadline(ticket, settings)


def claim(session: Session, ticket: Ticket, act: Act) -> str | None:
    """接单: a new ticket is claimed; an escalated one may be taken over. Returns who had it."""
    assert act.actor_id is not None
    previous = ticket.assignee_id
    if ticket.status == "new":
        _move(ticket, "claimed", act)
    elif ticket.status in OPEN_STATUSES:
        if previous == act.actor_id:
            raise TransitionRefused(f"您已接下工单 #{ticket.number}，请继续处理。")
        if previous is not None and ticket.rung == 0:
            raise TransitionRefused(
                f"工单 #{ticket.number} 已有人接单；如需转交，请由接单人发送 "
                f"#转派 {ticket.number} @您。"
            )
    else:
        raise refused(ticket)
    ticket.assignee_id = act.actor_id
    ticket.updated_at = act.now
    record_response(ticket, act.now, act.settings)
    data: dict[str, Any] = {"rung": ticket.rung}
    if previous is not None and previous != act.actor_id:
        data["from"] = previous
    _event(session, ticket, "claimed", act, data=data)
    refresh(ticket, act.settings)
    session.add(ticket)
    return previous


def plan(session: Session, ticket: Ticket, act: Act, text: str) -> None:
    """方案: the plan (the first one meets the plan deadline; a later one replaces it)."""
    if ticket.status == "new":
        raise refused(ticket)
    _move(ticket, "planned", act)
    if ticket.plan_at is None:
        ticket.plan_at = act.now
    _event(session, ticket, "planned", act, detail=text)
    refresh(ticket, act.settings)
    session.add(ticket)


def progress(session: Session, ticket: Ticket, act: Act, text: str) -> None:
    """进展: a written update on an open ticket (counts as the written reply)."""
    if ticket.status not in ("claimed", "planned"):
        raise refused(ticket)
    if ticket.reply_at is None:
        ticket.reply_at = act.now
    ticket.updated_at = act.now
    _event(session, ticket, "progress", act, detail=text)
    refresh(ticket, act.settings)
    session.add(ticket)


def resolve(session: Session, ticket: Ticket, act: Act, note: str) -> None:
    """办结: solved; the reporters are asked to rate it."""
    _move(ticket, "resolved", act)
    record_resolution(ticket, act.now, act.settings)
    _event(session, ticket, "resolved", act, detail=note)
    refresh(ticket, act.settings)
    session.add(ticket)


def cancel(session: Session, ticket: Ticket, act: Act) -> None:
    """撤销: the reporter withdraws an open ticket."""
    _move(ticket, "cancelled", act)
    ticket.cancelled_at = act.now
    _event(session, ticket, "cancelled", act)
    refresh(ticket, act.settings)
    session.add(ticket)


def transfer(session: Session, ticket: Ticket, act: Act, to_id: str) -> str | None:
    """转派: hand an open ticket to someone else; returns who had it."""
    if ticket.status not in OPEN_STATUSES:
        raise refused(ticket)
    if ticket.assignee_id == to_id:
        raise TransitionRefused(f"工单 #{ticket.number} 已经由这位同志负责。")
    previous = ticket.assignee_id
    ticket.assignee_id = to_id
    ticket.updated_at = act.now
    _event(session, ticket, "transferred", act, data={"from": previous, "to": to_id})
    refresh(ticket, act.settings)
    session.add(ticket)
    return previous


def escalate(session: Session, ticket: Ticket, act: Act, reason: str) -> int:
    """升级: one rung up the ladder; refused beyond the district. Returns the new rung."""
    if ticket.status not in OPEN_STATUSES:
        raise refused(ticket)
    if ticket.rung >= TOP_RUNG:
        raise TransitionRefused(f"工单 #{ticket.number} 已在区县一级，不能再升级了。")
    ticket.rung += 1
    ticket.updated_at = act.now
    _event(session, ticket, "escalated", act, detail=reason, data={"rung": ticket.rung})
    refresh(ticket, act.settings)
    session.add(ticket)
    return ticket.rung


def close(session: Session, ticket: Ticket, act: Act, *, by: str) -> None:
    """Close a resolved ticket (by a rating, or automatically)."""
    _move(ticket, "closed", act)
    ticket.closed_at = act.now
    _event(session, ticket, "closed", act, data={"by": by})
    refresh(ticket, act.settings)
    session.add(ticket)


def reopen(session: Session, ticket: Ticket, act: Act, reason: str) -> int:
    """An unsatisfied rating: back to claimed, one rung up, deadlines from now."""
    _move(ticket, "claimed", act)
    ticket.rung = min(ticket.rung + 1, TOP_RUNG)
    ticket.reopened_at = act.now
    ticket.plan_at = None
    ticket.reply_at = None
    ticket.resolved_at = None
    ticket.resolved_on_time = None
    _event(session, ticket, "reopened", act, detail=reason, data={"rung": ticket.rung})
    refresh(ticket, act.settings)
    session.add(ticket)
    return ticket.rung


def rate(session: Session, ticket: Ticket, act: Act, rating: str, comment: str) -> bool:
    """评价 a resolved ticket: 满意/基本满意 close it, 不满意 reopens it. True when closed."""
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}")
    if ticket.status != "resolved":
        raise refused(ticket, "，不能再评价" if ticket.status == "closed" else "，现在还不能评价")
    ticket.rating = rating
    ticket.rating_comment = comment or None
    ticket.updated_at = act.now
    _event(session, ticket, "rated", act, detail=comment or None, data={"rating": rating})
    if rating in SATISFIED:
        close(session, ticket, act, by="rating")
        return True
    reopen(session, ticket, act, f"居民评价不满意{('：' + comment) if comment else ''}")
    return False


def close_unrated(session: Session, now: datetime, settings: Settings) -> list[Ticket]:
    """Close every resolved ticket left unrated for ``tickets.auto_close_hours``.

    Idempotent: a ticket closed once is no longer resolved, so a second run closes nothing.
    The clock's work calls this and posts ``auto_close_notices`` for what it returns.
    """
    cutoff = now - timedelta(hours=settings.tickets.auto_close_hours)
    closed = []
    for t in resolved_unrated_before(session, cutoff):
        close(session, t, Act(None, now, settings), by="auto")
        closed.append(t)
    return closed


def next_auto_close(session: Session, settings: Settings) -> datetime | None:
    """When the earliest unrated resolved ticket falls due for closing (for a DueWork)."""
    first = earliest_resolution_unrated(session)
    return first + timedelta(hours=settings.tickets.auto_close_hours) if first else None


def rung_label(rung: int) -> str:
    """物业, 网格, 社区, 街道, 区县."""
    return RUNG_LABELS[max(0, min(rung, TOP_RUNG))]
