"""Spreadsheet downloads: the ledger (问题台账) for any period, and the monthly report.

The monthly report is the one the office receives (bot/report.py), limited to the viewer's
communities; the ledger here covers any period with the same figures.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from bot import report
from bot.report import ReportData, photo_cell
from bot.web.common import SOURCE_LABELS, STATUS_LABELS, rung_label
from bot.web.queries import ledger_rows
from config.schema import Settings
from handlers.privacy import mask_phones
from handlers.sla import STEP_LABELS, next_deadline
from storage.directory import Directory
from storage.models import Attachment, Ticket
from storage.stats import Rates, local_month_bounds, rates

if TYPE_CHECKING:  # openpyxl (and numpy with it) is imported when a sheet is made: ~35 MB
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEDGER_COLUMNS = (
    "工单号",
    "报事时间",
    "类别",
    "紧急",
    "重大",
    "社区",
    "小区",
    "楼栋",
    "位置",
    "问题描述",
    "来源",
    "反映人数",
    "状态",
    "当前层级",
    "红色管家",
    "首次响应",
    "出方案",
    "办结时间",
    "关闭时间",
    "按时响应",
    "按时办结",
    "下一时限",
    "评价",
    "评价意见",
    "照片",
)


def _head(ws: Worksheet, columns: Collection[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="B71C1C")
        cell.alignment = Alignment(horizontal="center")
    ws.freeze_panes = "A2"


def _widths(ws: Worksheet, widths: dict[str, int]) -> None:
    for letter, w in widths.items():
        ws.column_dimensions[letter].width = w


def _yes(v: bool | None) -> str:
    return "" if v is None else ("是" if v else "否")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


class Ledger:
    """Builds the workbooks for one viewer's area."""

    def __init__(self, directory: Directory, labels: Mapping[str, str], settings: Settings) -> None:
        self.directory = directory
        self.labels = labels
        self.settings = settings
        self.tz = settings.tz

    def _local(self, d: datetime | None) -> str:
        if d is None:
            return ""
        return d.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def ticket_row(
        self, t: Ticket, names: dict[str, str], photos: Mapping[int, list[Attachment]] | None = None
    ) -> list[object]:
        """One ledger line."""
        b = self.directory.buildings.get(t.building_id) if t.building_id else None
        nxt = next_deadline(t, self.settings)
        community = b.community if b else ""
        if not community and t.community_id in self.directory.communities:
            community = self.directory.communities[t.community_id][0]
        return [
            t.number,
            self._local(t.created_at),
            self.labels.get(t.category, t.category),
            _yes(t.urgent),
            _yes(t.major),
            community,
            b.compound if b else "",
            b.name if b else "",
            mask_phones(t.location or ""),
            mask_phones(t.summary),
            SOURCE_LABELS.get(t.source, t.source),
            t.reporters_count,
            STATUS_LABELS.get(t.status, t.status),
            rung_label(t.rung),
            names.get(t.assignee_id, t.assignee_id or "") if t.assignee_id else "",
            self._local(t.first_response_at),
            self._local(t.plan_at),
            self._local(t.resolved_at),
            self._local(t.closed_at),
            _yes(t.responded_on_time),
            _yes(t.resolved_on_time),
            f"{STEP_LABELS.get(nxt[0], nxt[0])} {self._local(nxt[1])}" if nxt else "",
            t.rating or "",
            mask_phones(t.rating_comment or ""),
            photo_cell((photos or {}).get(t.id or -1, [])),
        ]

    def _ledger_sheet(
        self,
        ws: Worksheet,
        tickets: list[Ticket],
        names: dict[str, str],
        photos: Mapping[int, list[Attachment]] | None = None,
    ) -> None:
        _head(ws, LEDGER_COLUMNS)
        for t in tickets:
            ws.append(self.ticket_row(t, names, photos))
        _widths(ws, {"A": 8, "B": 17, "C": 10, "F": 10, "G": 10, "H": 8, "I": 14, "J": 40})

    def ledger_xlsx(self, data: LedgerData, title: str) -> bytes:
        """The ledger (ledger_data) as an .xlsx file (blocking: run it off the event loop,
        and not in a database job, whose thread stored messages wait for)."""
        from openpyxl import Workbook

        tickets, names, photos = data
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "问题台账"
        self._ledger_sheet(ws, tickets, names, photos)
        info = wb.create_sheet("说明")
        info.append(["问题台账", title])
        info.append(["工单数", len(tickets)])
        info.append(["说明", "时间为北京时间；电话号码已隐去中间四位。"])
        return _save(wb)


# what the ledger shows: tickets, people's names, each ticket's photos
LedgerData = tuple[list[Ticket], dict[str, str], dict[int, list[Attachment]]]


def ledger_data(
    session: Session, scope: list[ColumnElement[bool]], start: datetime, end: datetime
) -> LedgerData:
    """The tickets reported in [start, end) of a scope, with what their ledger lines show."""
    tickets, names = ledger_rows(session, scope, start, end)
    return tickets, names, photos_of(session, [t.id for t in tickets if t.id])


def photos_of(session: Session, ticket_ids: list[int]) -> dict[int, list[Attachment]]:
    """The photos of some tickets, oldest first, by ticket."""
    out: dict[int, list[Attachment]] = {}
    if not ticket_ids:
        return out
    for a in session.exec(
        select(Attachment)
        .where(col(Attachment.ticket_id).in_(ticket_ids))
        .order_by(col(Attachment.time), col(Attachment.id))
    ):
        out.setdefault(a.ticket_id or -1, []).append(a)
    return out


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def area_report(
    session: Session,
    settings: Settings,
    directory: Directory,
    categories: Mapping[str, str],
    year: int,
    month: int,
    communities: Collection[int] | None,
) -> ReportData:
    """The monthly report's data for all communities (None) or some of them, merged."""
    if communities is None:
        return report.collect(session, settings, directory, categories, year, month)
    parts = [
        report.collect(session, settings, directory, categories, year, month, community_id=c)
        for c in sorted(communities)
    ]
    if len(parts) == 1:
        return parts[0]
    merged = ReportData("、".join(p.title for p in parts), year, month)
    ids = [b.id for b in directory.buildings.values() if b.community_id in communities]
    start, end = local_month_bounds(year, month, settings.tz)
    merged.overall = rates(session, start, end, building_ids=ids).get(None, Rates())
    per_c = rates(session, start, end, building_ids=ids, group_by="category")
    merged.by_category = sorted(
        ((categories.get(str(k), str(k)), r) for k, r in per_c.items()), key=lambda x: -x[1].total
    )
    for p in parts:
        merged.ledger += p.ledger
        merged.by_building += p.by_building
        merged.ranking += p.ranking
    merged.ledger.sort(key=lambda row: int(str(row[0])))
    merged.ranking.sort(key=lambda row: (row.score is None, -(row.score or 0), row.compound))
    return merged


def report_xlsx(data: ReportData) -> bytes:
    """The monthly report workbook as bytes (blocking: run it off the event loop)."""
    with tempfile.TemporaryDirectory(prefix="redsteward-report-") as tmp:
        path = report.write_workbook(data, Path(tmp) / "report.xlsx")
        return path.read_bytes()
