"""The monthly report (物业投诉月报) as a workbook: the ledger, the rates, the 红黑榜.

Sheets: 台账 (every ticket created in the month with its timeline), 汇总 (the three rates
overall, per building and per category — storage/stats.py's one definition), 红黑榜 (property
projects, i.e. compounds, ranked by a score: the mean of their available rates; 红榜 at 90%
or more, 黑榜 under 60%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from bot.xlsx import BLACK_ROW, HEADER, RED_ROW, TITLE, Sheet, Styled, write_xlsx
from config.schema import Settings
from handlers.privacy import mask_phones
from storage import stats
from storage.directory import Directory
from storage.models import Attachment, Person, Ticket, TicketEvent

RED_AT = 0.9
BLACK_BELOW = 0.6
STATUS = {
    "new": "待认领",
    "claimed": "已认领",
    "planned": "已出方案",
    "resolved": "已办结",
    "closed": "已结案",
    "cancelled": "已撤销",
}
RUNGS = {0: "物业", 1: "网格员", 2: "社区", 3: "街道", 4: "区县"}
LEDGER_HEAD = (
    "工单号", "报告时间", "社区", "小区", "楼栋", "类别", "紧急", "重大", "反映人数", "问题摘要",
    "位置", "状态", "所在层级", "负责人", "认领时间", "方案时间", "办结时间", "结案时间",
    "按时响应", "按时办结", "评价", "评价意见", "照片", "处理过程",
)  # fmt: skip
# the ticket columns the ledger shows
_LEDGER_COLUMNS = (
    "id", "number", "created_at", "building_id", "category", "urgent", "major",
    "reporters_count", "summary", "location", "status", "rung", "assignee_id",
    "first_response_at", "plan_at", "resolved_at", "closed_at", "responded_on_time",
    "resolved_on_time", "rating", "rating_comment",
)  # fmt: skip
RATE_HEAD = ("工单数", "按时响应", "响应率", "按时办结", "办结率", "已评价", "满意", "满意率")


@dataclass(slots=True)
class RankRow:
    """A property project (compound) on the 红黑榜."""

    compound: str
    community: str
    rates: stats.Rates
    score: float | None

    @property
    def board(self) -> str:
        """红榜, 黑榜 or nothing."""
        if self.score is None:
            return ""
        return "红榜" if self.score >= RED_AT else "黑榜" if self.score < BLACK_BELOW else ""


@dataclass(slots=True)
class ReportData:
    """Everything the workbook shows."""

    title: str
    year: int
    month: int
    ledger: list[tuple[object, ...]] = field(default_factory=list)
    overall: stats.Rates = field(default_factory=stats.Rates)
    by_building: list[tuple[str, stats.Rates]] = field(default_factory=list)
    by_category: list[tuple[str, stats.Rates]] = field(default_factory=list)
    ranking: list[RankRow] = field(default_factory=list)


def score(r: stats.Rates) -> float | None:
    """The mean of the rates that can be computed (None without tickets)."""
    vals = [v for v in (r.response_rate, r.completion_rate, r.satisfaction_rate) if v is not None]
    return sum(vals) / len(vals) if vals else None


class _LocalMinutes:
    """2026-10-05 11:04 in local time; each minute converted once (a month has 44,640)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.seen: dict[int, str] = {}

    def __call__(self, t: datetime | None) -> str:
        if t is None:
            return ""
        minute = int(t.timestamp()) // 60
        text = self.seen.get(minute)
        if text is None:
            text = self.seen[minute] = t.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return text


def _yes(v: bool | None) -> str:
    return "" if v is None else "是" if v else "否"


def collect(
    session: Session,
    settings: Settings,
    directory: Directory,
    categories: Mapping[str, str],
    year: int,
    month: int,
    *,
    community_id: int | None = None,
) -> ReportData:
    """Read the month's tickets and figures (one community, or all)."""
    start, end = stats.local_month_bounds(year, month, settings.tz)
    buildings = {
        b.id: b
        for b in directory.buildings.values()
        if community_id is None or b.community_id == community_id
    }
    ids = set(buildings) if community_id is not None else None
    title = directory.communities[community_id][0] if community_id is not None else "全部社区"
    data = ReportData(title, year, month)
    # plain rows, not ORM objects: a district's month is tens of thousands of tickets
    in_month = [col(Ticket.created_at) >= start, col(Ticket.created_at) < end]
    if ids is not None:
        in_month.append(col(Ticket.building_id).in_(list(ids)))
    names = dict(session.exec(select(Person.id, Person.name)).all())
    month_ids = select(Ticket.id).where(*in_month).scalar_subquery()
    local = _LocalMinutes(settings.tz)
    # the month's events first, each turned into its timeline text as it is read; then the
    # tickets, streamed: few objects live at once (the collector has less to walk)
    steps: dict[int, list[str]] = {}
    for ticket_id, time, kind, actor, detail in session.execute(
        select_rows(
            col(TicketEvent.ticket_id),
            col(TicketEvent.time),
            col(TicketEvent.kind),
            col(TicketEvent.actor_id),
            col(TicketEvent.detail),
        )
        .where(col(TicketEvent.ticket_id).in_(month_ids))
        .order_by(col(TicketEvent.id))
    ):
        step = f"{local(time)[5:]} {kind}"
        if actor:
            step += f"（{names.get(actor, actor)}）"
        if detail and kind != "created":
            step += f" {mask_phones(detail)[:40]}"
        steps.setdefault(ticket_id, []).append(step)
    photos: dict[int, list[Attachment]] = {}
    for a in session.exec(
        select(Attachment)
        .where(col(Attachment.ticket_id).in_(month_ids))
        .order_by(col(Attachment.time), col(Attachment.id))
    ):
        photos.setdefault(a.ticket_id or -1, []).append(a)
    every_building = directory.buildings
    tickets = session.execute(
        select_rows(*(getattr(Ticket, c) for c in _LEDGER_COLUMNS))
        .where(*in_month)
        .order_by(col(Ticket.number))
    )
    for (
        ticket_id, number, created_at, building_id, category, urgent, major, reporters_count,
        summary, location, status, rung, assignee_id, first_response_at, plan_at, resolved_at,
        closed_at, responded_on_time, resolved_on_time, rating, rating_comment,
    ) in tickets:  # fmt: skip
        b = buildings.get(building_id or -1) or every_building.get(building_id or -1)
        data.ledger.append(
            (
                number,
                local(created_at),
                b.community if b else "",
                b.compound if b else "",
                b.name if b else "",
                categories.get(category, category),
                _yes(urgent),
                _yes(major),
                reporters_count,
                mask_phones(summary),
                location or "",
                STATUS.get(status, status),
                RUNGS.get(rung, str(rung)),
                names.get(assignee_id or "", ""),
                local(first_response_at),
                local(plan_at),
                local(resolved_at),
                local(closed_at),
                _yes(responded_on_time),
                _yes(resolved_on_time),
                rating or "",
                rating_comment or "",
                photo_cell(photos.pop(ticket_id, [])),
                "；".join(steps.pop(ticket_id, ())),
            )
        )
    data.overall = stats.rates(session, start, end, building_ids=ids).get(None, stats.Rates())
    per_b = stats.rates(session, start, end, building_ids=ids, group_by="building_id")
    data.by_building = sorted(
        (
            (directory.buildings[k].label if k in directory.buildings else "未绑定楼栋", r)
            for k, r in per_b.items()
            if isinstance(k, int) or k is None
        ),
        key=lambda x: x[0],
    )
    per_c = stats.rates(session, start, end, building_ids=ids, group_by="category")
    data.by_category = sorted(
        ((categories.get(str(k), str(k)), r) for k, r in per_c.items()), key=lambda x: -x[1].total
    )
    compounds: dict[int, tuple[str, str]] = {
        b.compound_id: (b.compound, b.community) for b in buildings.values()
    }
    in_compound: dict[int, list[int]] = {}
    for b in buildings.values():
        in_compound.setdefault(b.compound_id, []).append(b.id)
    for comp_id, (comp, comm) in sorted(compounds.items()):
        # the per-building figures summed: one query for the month, not one per compound
        r = stats.total(per_b[bid] for bid in in_compound[comp_id] if bid in per_b)
        data.ranking.append(RankRow(comp, comm, r, score(r)))
    data.ranking.sort(key=lambda row: (row.score is None, -(row.score or 0), row.compound))
    return data


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{round(100 * v)}%"


def _rate_cells(r: stats.Rates) -> list[object]:
    return [
        r.total,
        r.responded_in_time,
        _pct(r.response_rate),
        r.resolved_in_time,
        _pct(r.completion_rate),
        r.rated,
        r.satisfied,
        _pct(r.satisfaction_rate),
    ]


def _header(cells: tuple[str, ...] | list[str]) -> list[object]:
    return [Styled(text, HEADER) for text in cells]


def photo_cell(photos: list[Attachment]) -> str:
    """现场照片 and 整改凭证 of a ticket: their file names under the media folder."""
    return "\n".join(
        f"{'整改凭证' if a.role == 'proof' else '现场照片'} /media/{a.file_name}" for a in photos
    )


def write_workbook(data: ReportData, path: Path) -> Path:
    """Write the report to an .xlsx file (blocking: run it off the event loop)."""
    ledger = Sheet("台账", freeze=(2, 2))
    ledger.append(_header(LEDGER_HEAD))
    ledger.rows += data.ledger
    ledger.widths = dict(enumerate((8, 17, 10, 10, 8, 10, 6, 6, 8, 40), start=1))
    ledger.widths[len(LEDGER_HEAD)] = 80

    summary = Sheet("汇总", widths={1: 18})
    summary.append([Styled(f"{data.title} {data.year}年{data.month}月 物业投诉月报", TITLE)])
    summary.append([])
    summary.append(_header(["范围", *RATE_HEAD]))
    summary.append(["全部", *_rate_cells(data.overall)])
    summary.append(_header(["楼栋", *RATE_HEAD]))
    for label, r in data.by_building:
        summary.append([label, *_rate_cells(r)])
    summary.append(_header(["类别", *RATE_HEAD]))
    for label, r in data.by_category:
        summary.append([label, *_rate_cells(r)])

    ranking = Sheet("红黑榜", widths={2: 16})
    ranking.append(_header(["排名", "物业项目（小区）", "社区", *RATE_HEAD, "综合得分", "榜单"]))
    for i, rank in enumerate(data.ranking, start=1):
        ranking.append(
            [
                i,
                rank.compound,
                rank.community,
                *_rate_cells(rank.rates),
                _pct(rank.score),
                rank.board,
            ],
            style=(RED_ROW if rank.board == "红榜" else BLACK_ROW) if rank.board else None,
        )
    ranking.append([])
    ranking.append(["综合得分 = 响应率、办结率、满意率（有数据者）的平均；≥90% 红榜，<60% 黑榜。"])
    return write_xlsx(path, [ledger, summary, ranking])


def report_path(settings: Settings, year: int, month: int, title: str) -> Path:
    """Where a month's report is written: var/reports/物业投诉月报-华福社区-2026-10.xlsx."""
    return Path(settings.report.dir) / f"物业投诉月报-{title}-{year}-{month:02d}.xlsx"
