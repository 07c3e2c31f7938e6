"""A job that fires on a calendar rule (APScheduler CronTrigger): the digest, the report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from handlers.context import Services


class CalendarJob(ABC):
    """Due at each fire time of a trigger; run(now) handles the latest one not yet done.

    Subclasses (the digest, the monthly report) say what one occurrence does in fire().
    """

    name = "calendar"
    catch_up: timedelta = timedelta(hours=12)

    def __init__(self, services: Services, trigger: CronTrigger) -> None:
        self.services = services
        self.trigger = trigger
        self._done: datetime | None = None

    async def next_due(self, now: datetime) -> datetime | None:
        """The next fire time after now."""
        fire = self.trigger.get_next_fire_time(None, now + timedelta(seconds=1))
        return fire.astimezone(now.tzinfo) if fire else None

    def latest(self, now: datetime) -> datetime | None:
        """The latest fire time at or before now, within the catch-up window."""
        start = now - self.catch_up
        fire = self.trigger.get_next_fire_time(None, start)
        last = None
        while fire is not None and fire <= now:
            last = fire
            fire = self.trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
        return last

    async def run(self, now: datetime) -> None:
        """Do the latest due occurrence once (per process; keys make it once overall)."""
        fire = self.latest(now)
        if fire is None or fire == self._done:
            return
        await self.fire(fire, now)
        self._done = fire

    @abstractmethod
    async def fire(self, fire: datetime, now: datetime) -> None:
        """Do one occurrence (fire: its scheduled moment, local)."""
