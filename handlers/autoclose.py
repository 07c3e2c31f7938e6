"""Closing resolved tickets nobody rated: a piece of due work for the timekeeper.

The lead wires it: ``build_bot(..., work=[AutoCloseWork(services), ...])`` (it satisfies
``bot.timekeeper.DueWork``; handlers never import bot/).
"""

from __future__ import annotations

from datetime import datetime

from loguru import logger
from sqlmodel import Session

from handlers.context import Services, Tx
from handlers.lifecycle import close_unrated, next_auto_close
from handlers.ticket_talk import auto_close_notices


class AutoCloseWork:
    """Every resolved ticket unrated for ``tickets.auto_close_hours`` is closed; reporters told."""

    name = "auto_close"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def next_due(self, now: datetime) -> datetime | None:
        """When the oldest unrated resolved ticket falls due."""
        return await self.services.db.run(next_auto_close, self.services.settings)

    async def run(self, now: datetime) -> None:
        """Close what is due (idempotent: a closed ticket is not closed again)."""
        s = self.services

        def work(session: Session) -> list[int]:
            closed = close_unrated(session, now, s.settings)
            tx = Tx(s, "autoclose")
            for notice in auto_close_notices(session, closed, s.settings):
                tx.send(notice)
            tx.flush(session, now)
            return [t.number for t in closed]

        numbers = await s.db.run(work)
        if numbers:
            logger.info("closed {} unrated ticket(s): {}", len(numbers), numbers)
            s.wake_outbox()
