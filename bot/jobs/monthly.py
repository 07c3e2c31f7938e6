"""The monthly report: on the configured day, the last month's workbook to every secretary."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from loguru import logger
from sqlmodel import Session, col, select

from bot.jobs.common import send_all
from bot.jobs.digest import secretaries
from bot.jobs.scheduled import CalendarJob
from bot.report import ReportData, collect, report_path, write_workbook
from handlers.context import Outbound, Services
from storage.models import OutboxMessage


def previous_month(day: date) -> tuple[int, int]:
    """(year, month) of the month before a day's."""
    first = day.replace(day=1) - timedelta(days=1)
    return first.year, first.month


class MonthlyReport(CalendarJob):
    """DueWork: the ledger and figures of last month, per community."""

    name = "report"

    def __init__(self, services: Services) -> None:
        r = services.settings.report
        super().__init__(
            services,
            CronTrigger(day=r.day, hour=r.at.hour, minute=r.at.minute, timezone=services.tz),
        )
        self.catch_up = timedelta(hours=r.catch_up_hours)

    async def run(self, now: datetime) -> None:
        """Nothing when the report is switched off."""
        if self.services.settings.report.enabled:
            await super().run(now)

    async def fire(self, fire: datetime, now: datetime) -> None:
        """Write and send each community's workbook."""
        s = self.services
        d = s.directory.current
        year, month = previous_month(fire.astimezone(s.tz).date())
        for cid, people in secretaries(s).items():
            name = d.communities[cid][0]
            path = report_path(s.settings, year, month, name)
            keys = [f"report:{cid}:{year}-{month:02d}:{pid}" for pid in people]

            def sent(session: Session, keys: list[str] = keys) -> bool:
                q = select(OutboxMessage.key).where(col(OutboxMessage.key).in_(keys))
                return len(session.exec(q).all()) == len(keys)

            if await s.db.run(sent):
                continue

            def build(session: Session, cid: int = cid) -> ReportData:
                return collect(
                    session, s.settings, d, s.classifier.categories, year, month, community_id=cid
                )

            data = await s.db.run(build)
            await asyncio.to_thread(write_workbook, data, path)
            text = f"《{name} {year}年{month}月物业投诉月报》已生成（台账、三率汇总、红黑榜），请查收附件。"
            outs = [
                Outbound(
                    text,
                    person_id=pid,
                    image_path=str(path),
                    key=f"report:{cid}:{year}-{month:02d}:{pid}",
                )
                for pid in people
            ]

            def write(session: Session, outs: list[Outbound] = outs) -> int:
                return send_all(s, session, now, outs)

            new = await s.db.run(write)
            logger.info("monthly report {} {}-{:02d}: {} message(s)", name, year, month, new)
