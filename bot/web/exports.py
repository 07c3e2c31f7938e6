"""Spreadsheet downloads: the ledger (问题台账) for any period and the monthly report.

NOTE: the monthly report is built here because `bot/report.py` (the clock branch's report
builder) was not on main when this was written; once it lands, `monthly_report_xlsx` should
call it so that the download and the report the office receives are the same workbook.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import ColumnElement
from sqlmodel import Session

from bot.web.common import DEADLINE_LABELS, SOURCE_LABELS, STATUS_LABELS, rung_label
from bot.web.queries import ledger_rows
from bot.web.ranking import compound_ranking
from handlers.privacy import mask_phones
from storage.directory import Directory
from storage.models import Ticket
from storage.stats import Rates, rates

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
)
_HEAD_FILL = PatternFill("solid", fgColor="B71C1C")


def _head(ws: Worksheet, columns: Collection[str]) -> None:
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = _HEAD_FILL
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

    def __init__(self, directory: Directory, labels: dict[str, str], tz_local: object) -> None:
        self.directory = directory
        self.labels = labels
        self.tz = tz_local

    def _local(self, d: datetime | None) -> str:
        if d is None:
            return ""
        return d.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]

    def ticket_row(self, t: Ticket, names: dict[str, str]) -> list[object]:
        """One ledger line."""
        b = self.directory.buildings.get(t.building_id) if t.building_id else None
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
            (
                f"{DEADLINE_LABELS.get(t.next_deadline_kind, t.next_deadline_kind)} "
                f"{self._local(t.next_deadline_at)}"
                if t.next_deadline_kind
                else ""
            ),
            t.rating or "",
            mask_phones(t.rating_comment or ""),
        ]

    def _ledger_sheet(self, ws: Worksheet, tickets: list[Ticket], names: dict[str, str]) -> None:
        _head(ws, LEDGER_COLUMNS)
        for t in tickets:
            ws.append(self.ticket_row(t, names))
        _widths(ws, {"A": 8, "B": 17, "C": 10, "F": 10, "G": 10, "H": 8, "I": 14, "J": 40})

    def ledger_xlsx(
        self,
        session: Session,
        scope: list[ColumnElement[bool]],
        start: datetime,
        end: datetime,
        title: str,
    ) -> bytes:
        """The ledger of tickets reported in [start, end) as an .xlsx file."""
        tickets, names = ledger_rows(session, scope, start, end)
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "问题台账"
        self._ledger_sheet(ws, tickets, names)
        info = wb.create_sheet("说明")
        info.append(["问题台账", title])
        info.append(["工单数", len(tickets)])
        info.append(["说明", "时间为北京时间；电话号码已隐去中间四位。"])
        return _save(wb)

    def monthly_report_xlsx(
        self,
        session: Session,
        scope: list[ColumnElement[bool]],
        building_ids: Collection[int] | None,
        start: datetime,
        end: datetime,
        title: str,
    ) -> bytes:
        """物业投诉月报: the rates overall, by category, by compound (红黑榜), and the ledger."""
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "汇总"
        total = rates(session, start, end, building_ids=building_ids).get(None, Rates())
        ws.append(["物业投诉月报", title])
        ws.append([])
        _rates_table(ws, [("合计", total)], start_row=3)
        cats = ws.parent.create_sheet("按类别")
        by_cat = rates(session, start, end, building_ids=building_ids, group_by="category")
        _rates_table(
            cats,
            sorted(
                ((self.labels.get(str(k), str(k)), v) for k, v in by_cat.items()),
                key=lambda kv: -kv[1].total,
            ),
        )
        rank = wb.create_sheet("红黑榜")
        _head(rank, ("名次", "小区", "社区", "工单数", "响应率", "办结率", "满意率", "综合得分"))
        for cr in compound_ranking(session, self.directory, start, end, building_ids):
            r = cr.rates
            rank.append(
                [
                    cr.place,
                    cr.compound,
                    cr.community,
                    r.total,
                    _pct(r.response_rate),
                    _pct(r.completion_rate),
                    _pct(r.satisfaction_rate),
                    "—" if cr.score is None else round(cr.score, 1),
                ]
            )
        _widths(rank, {"B": 14, "C": 12})
        tickets, names = ledger_rows(session, scope, start, end)
        self._ledger_sheet(wb.create_sheet("问题台账"), tickets, names)
        return _save(wb)


def _rates_table(ws: Worksheet, rows: list[tuple[str, Rates]], start_row: int = 1) -> None:
    head = (
        "范围",
        "工单数",
        "按时响应",
        "按时办结",
        "已办结",
        "已评价",
        "满意",
        "响应率",
        "办结率",
        "满意率",
    )
    if start_row == 1:
        _head(ws, head)
    else:
        ws.append(list(head))
        for cell in ws[start_row]:
            cell.font = Font(bold=True)
    for name, r in rows:
        ws.append(
            [
                name,
                r.total,
                r.responded_in_time,
                r.resolved_in_time,
                r.resolved,
                r.rated,
                r.satisfied,
                _pct(r.response_rate),
                _pct(r.completion_rate),
                _pct(r.satisfaction_rate),
            ]
        )
    ws.column_dimensions["A"].width = 14


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
