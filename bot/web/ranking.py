"""The 红黑榜: property projects (compounds) ranked by the three rates."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage.directory import Directory
from storage.stats import Rates, rates

# weights of 响应率, 办结率, 满意率 in the score; a missing rate drops out of the average
WEIGHTS = (0.3, 0.4, 0.3)


@dataclass(slots=True)
class CompoundRank:
    """One compound's figures for the period."""

    compound_id: int
    compound: str
    community: str
    rates: Rates
    score: float | None
    place: int = 0


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


def score_of(r: Rates) -> float | None:
    """The weighted average of the rates there are (0-100)."""
    pairs = [
        (w, v)
        for w, v in zip(
            WEIGHTS, (r.response_rate, r.completion_rate, r.satisfaction_rate), strict=True
        )
        if v is not None
    ]
    if not pairs:
        return None
    return 100 * sum(w * v for w, v in pairs) / sum(w for w, _ in pairs)


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
        cr.score = score_of(cr.rates)
    out.sort(key=lambda c: (c.score is None, -(c.score or 0), -c.rates.total, c.compound))
    for i, cr in enumerate(out, 1):
        cr.place = i
    return out
