"""The clock's work: deadlines, notices, the daily digest, the monthly report, pruning.

Every job is a `DueWork` (bot/timekeeper.py): `next_due(now)` and `run(now)`, a plain async
function of the time. APScheduler's ticks and the simulator's clock run the same jobs.
"""

from __future__ import annotations

from bot.jobs.deadlines import AutoClose, DeadlineSweep
from bot.timekeeper import DueWork
from handlers.context import Services


def build_work(services: Services, *, auto_close: AutoClose | None = None) -> list[DueWork]:
    """Every job of the clock, in the order a tick runs them."""
    from bot.jobs.digest import DailyDigest
    from bot.jobs.hub import NoticeWork, VoteWork
    from bot.jobs.monthly import MonthlyReport
    from bot.jobs.notices import RecurringNotices
    from bot.jobs.prune import OutboxPruning

    return [
        DeadlineSweep(services, auto_close),
        RecurringNotices(services),
        DailyDigest(services),
        MonthlyReport(services),
        NoticeWork(services),
        VoteWork(services),
        OutboxPruning(services),
    ]


__all__ = ["AutoClose", "DeadlineSweep", "build_work"]
