"""Everything that falls due: one tick runs it; the simulator walks ticks through time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from loguru import logger

from bot.clock import Clock, ManualClock
from bot.outbox import OutboxSender


class DueWork(Protocol):
    """A kind of work that falls due: deadlines, notices, digests."""

    name: str

    async def next_due(self, now: datetime) -> datetime | None:
        """The next moment after now this work falls due (None: nothing scheduled)."""
        ...

    async def run(self, now: datetime) -> None:
        """Do everything due at or before now (idempotent: twice sends nothing twice)."""
        ...


class Timekeeper:
    """Runs due work and drains the outbox; in the simulator, walks time forward."""

    MAX_STEPS = 100_000

    def __init__(self, clock: Clock, outbox: OutboxSender, work: list[DueWork]) -> None:
        self.clock = clock
        self.outbox = outbox
        self.work = work

    async def tick(self, now: datetime | None = None) -> None:
        """Run all work due by now, then send what the outbox may send."""
        now = now or self.clock.now()
        for w in self.work:
            try:
                await w.run(now)
            except Exception:
                logger.exception("scheduled work {} failed at {}", w.name, now.isoformat())
        await self.outbox.drain(now)

    async def _next(self, now: datetime) -> datetime | None:
        times = [await w.next_due(now) for w in self.work]
        times.append(await self.outbox.next_release(now))
        later = [t for t in times if t is not None and t > now]
        return min(later) if later else None

    async def advance_to(self, target: datetime) -> int:
        """Move a manual clock to target, running each due thing at its own moment, in order."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a manual clock can be advanced")
        clock = self.clock
        steps = 0
        await self.tick(clock.now())
        while steps < self.MAX_STEPS:
            nxt = await self._next(clock.now())
            if nxt is None or nxt > target:
                break
            clock.set(nxt)
            await self.tick(nxt)
            steps += 1
        clock.set(target)
        await self.tick(clock.now())
        return steps
