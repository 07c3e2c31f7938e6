"""Once a day the outbox forgets what it sent long ago: it would otherwise grow for good.

A sent message's row is what keeps its key from being sent again. The jobs that look for
their own keys look back a bounded time: the digest and the monthly report their catch-up
hours, the notices two days (bot/jobs/notices.LOOKBACK); reminders and escalations go by the
ticket's events, replies by the stored message. Rows are kept at least a day longer than the
longest of these, whatever `[outbox] keep_days` says.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from loguru import logger

from bot.jobs.notices import LOOKBACK
from bot.jobs.scheduled import CalendarJob
from config.schema import Settings
from handlers.context import Services
from storage.outbox import prune_sent


def keep_for(settings: Settings) -> timedelta:
    """How long a sent message is kept: keep_days, or longer where a job looks back further."""
    looks_back = max(
        timedelta(hours=settings.digest.catch_up_hours),
        timedelta(hours=settings.report.catch_up_hours),
        LOOKBACK,
    )
    return max(timedelta(days=settings.outbox.keep_days), looks_back + timedelta(days=1))


class OutboxPruning(CalendarJob):
    """DueWork: at prune_at each day, the messages sent before keep_for are deleted."""

    name = "prune"
    catch_up = timedelta(hours=24)
    # rows per transaction: a short write each, so messages coming in wait for none of it
    BATCH = 2000

    def __init__(self, services: Services) -> None:
        at = services.settings.outbox.prune_at
        super().__init__(
            services, CronTrigger(hour=at.hour, minute=at.minute, timezone=services.tz)
        )

    async def fire(self, fire: datetime, now: datetime) -> None:
        """Delete in batches until none is left (every process may do it: a row goes once)."""
        before = fire - keep_for(self.services.settings)
        gone = 0
        while True:
            n = await self.services.db.run(prune_sent, before, self.BATCH)
            gone += n
            if n < self.BATCH:
                break
        if gone:
            logger.info(
                "outbox: {} message(s) sent before {} deleted",
                gone,
                self.services.local(before).isoformat(timespec="minutes"),
            )
