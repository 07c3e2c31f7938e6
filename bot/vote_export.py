"""A vote's result and ballots as a workbook for the office (never posted to a group)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from config.schema import Settings
from handlers.votes import tally
from storage.directory import Directory
from storage.models import Ballot, Person, Vote

BALLOT_HEAD = ("户", "投票人", "选项号", "选项", "面积（㎡）", "投票时间", "改投次数")


@dataclass(frozen=True, slots=True)
class VoteExport:
    """What the workbook shows."""

    vote: Vote
    result: dict[str, Any]
    ballots: list[tuple[Ballot, str]]  # with the voter's name


def collect(
    session: Session, settings: Settings, directory: Directory, vote_id: int
) -> VoteExport | None:
    """A vote with its result (archived, or as it stands) and its ballots."""
    vote = session.get(Vote, vote_id)
    if vote is None:
        return None
    ballots = list(
        session.exec(
            select(Ballot).where(Ballot.vote_id == vote_id).order_by(col(Ballot.household))
        )
    )
    result = vote.result or tally(settings, directory, vote, ballots)
    named = []
    for b in ballots:
        p = session.get(Person, b.person_id)
        named.append((b, p.name if p else b.person_id))
    return VoteExport(vote, dict(result), named)


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""


def _pct(x: object) -> str:
    return f"{float(x) * 100:.1f}%" if isinstance(x, int | float) else "—"


def write_vote_workbook(data: VoteExport, path: Path, tz: ZoneInfo) -> Path:
    """Write 结果 and 选票 sheets (blocking: run it off the event loop)."""
    from openpyxl import Workbook  # here, not at import: openpyxl and numpy weigh ~35 MB
    from openpyxl.styles import Font

    v, r = data.vote, data.result
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "结果"
    sheet.append([f"业主表决 #{v.id}：{v.title}"])
    sheet["A1"].font = Font(bold=True, size=14)
    rows: list[list[object]] = [
        ["范围", v.scope],
        ["事项", "重大事项（需四分之三以上）" if v.major else "一般事项（需过半数）"],
        ["发起时间", _local(v.created_at, tz)],
        ["截止时间", _local(v.deadline, tz)],
        ["状态", "已截止" if v.status == "closed" else "进行中"],
        ["参与户数", r.get("voters")],
        ["登记户数", r.get("households") if r.get("households") is not None else "未登记"],
        ["参与率（人数）", _pct(r.get("participation_count"))],
        ["参与率（面积）", _pct(r.get("participation_area"))],
        ["结论", r.get("verdict")],
        [],
        ["选项", "户数", "占参与户数", "面积（㎡）", "占参与面积"],
    ]
    for row in rows:
        sheet.append(row)
    for o in r.get("options", []):
        sheet.append(
            [o["option"], o["count"], _pct(o["share_count"]), o["area"], _pct(o["share_area"])]
        )
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 40
    ballots = wb.create_sheet("选票")
    ballots.append(list(BALLOT_HEAD))
    for cell in ballots[1]:
        cell.font = Font(bold=True)
    for b, name in data.ballots:
        ballots.append(
            [
                f"未登记（{name}）" if b.household.startswith("chat:") else b.household,
                name,
                b.option,
                v.options[b.option - 1] if 0 < b.option <= len(v.options) else "",
                b.area,
                _local(b.time, tz),
                b.changes,
            ]
        )
    ballots.column_dimensions["A"].width = 24
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
