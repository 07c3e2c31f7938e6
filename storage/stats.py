"""The office's figures, computed one way for the digest, the dashboard and the reports.

响应率 (response rate): tickets of the period responded to (claimed) within the response time.
办结率 (completion rate): tickets of the period resolved within the solution time.
(Both are decided when the step happens and stored on the ticket: responded_on_time,
resolved_on_time — see handlers/sla.py.)
满意率 (satisfaction rate): ratings 满意 or 基本满意 among the rated tickets of the period.
The period is by creation time; cancelled tickets count in none of the three.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, case, func
from sqlmodel import Session, col, select

from storage.models import Ticket

SATISFIED = ("满意", "基本满意")


@dataclass(slots=True)
class Rates:
    """Counts and rates for a set of tickets."""

    total: int = 0
    responded_in_time: int = 0
    resolved_in_time: int = 0
    resolved: int = 0
    rated: int = 0
    satisfied: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    @property
    def response_rate(self) -> float | None:
        """响应率, None when there is nothing to rate."""
        return self._ratio(self.responded_in_time, self.total)

    @property
    def completion_rate(self) -> float | None:
        """办结率."""
        return self._ratio(self.resolved_in_time, self.total)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率."""
        return self._ratio(self.satisfied, self.rated)


def _scope(
    building_ids: Collection[int] | None, start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        col(Ticket.created_at) >= start,
        col(Ticket.created_at) < end,
        col(Ticket.status) != "cancelled",
    ]
    if building_ids is not None:
        conds.append(col(Ticket.building_id).in_(list(building_ids)))
    return conds


def rates(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    building_ids: Collection[int] | None = None,
    group_by: str | None = None,  # "building_id" | "category" | None
) -> dict[object, Rates]:
    """The three rates for tickets created in [start, end), optionally grouped."""
    responded = func.sum(case((col(Ticket.responded_on_time).is_(True), 1), else_=0))
    in_time = func.sum(case((col(Ticket.resolved_on_time).is_(True), 1), else_=0))
    resolved = func.sum(case((col(Ticket.resolved_at).is_not(None), 1), else_=0))
    rated = func.sum(case((col(Ticket.rating).is_not(None), 1), else_=0))
    satisfied = func.sum(case((col(Ticket.rating).in_(SATISFIED), 1), else_=0))
    key = getattr(Ticket, group_by) if group_by else None
    cols = [func.count(), responded, in_time, resolved, rated, satisfied]
    q = select(key, *cols) if key is not None else select(*cols)  # type: ignore[call-overload]
    q = q.where(*_scope(building_ids, start, end))
    if key is not None:
        q = q.group_by(key)
    out: dict[object, Rates] = {}
    for row in session.exec(q).all():
        if key is not None:
            k, *vals = row
        else:
            k, vals = None, list(row)
        total, r, t, res, ra, sa = (int(v or 0) for v in vals)
        out[k] = Rates(total, r, t, res, ra, sa)
    return out
