"""The 红黑榜 page: property projects (compounds) ranked for any period.

The score and the boards are the monthly report's (bot/report.py): the mean of the rates
there are; 红榜 at 90% or more, 黑榜 under 60%. One definition for the page and the report.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.report import BLACK_BELOW, RED_AT, score
from storage.directory import Directory
from storage.stats import Rates, rates


@dataclass(slots=True)
class CompoundRank:
    """One compound's figures for the period."""

    compound_id: int
    compound: str
    community: str
    rates: Rates
    score: float | None
    place: int = 0

    @property
    def board(self) -> str:
        """红榜, 黑榜 or nothing."""
        if self.score is None:
            return ""
        return "红榜" if self.score >= RED_AT else "黑榜" if self.score < BLACK_BELOW else ""


def add_rates(a: Rates, b: Rates) -> Rates:
    """The sum of two sets of counts."""
    return Rates(
        a.total + b.total,
        a.responded_in_time + b.responded_in_time,
        a.resolved_in_time + b.resolved_in_time,
        a.resolved + b.resolved,
        a.rated + b.rated,
        a.satisfied + b.satisfied,
    )


def compound_ranking(
    session: Session,
    directory: Directory,
    start: datetime,
    end: datetime,
    building_ids: Collection[int] | None,
) -> list[CompoundRank]:
    """Every compound in the area, best first; compounds without tickets come last."""
    by_building = rates(session, start, end, building_ids=building_ids, group_by="building_id")
    ranks: dict[int, CompoundRank] = {}
    for b in directory.buildings.values():
        if building_ids is not None and b.id not in building_ids:
            continue
        cr = ranks.setdefault(
            b.compound_id, CompoundRank(b.compound_id, b.compound, b.community, Rates(), None)
        )
        r = by_building.get(b.id)
        if r is not None:
            cr.rates = add_rates(cr.rates, r)
    out = list(ranks.values())
    for cr in out:
        cr.score = score(cr.rates)
    out.sort(key=lambda c: (c.score is None, -(c.score or 0), -c.rates.total, c.compound))
    for i, cr in enumerate(out, 1):
        cr.place = i
    return out
