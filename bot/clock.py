"""One clock for everything time-based: the system's, or the simulator's that tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current time (UTC, aware)."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """The current time (UTC, aware)."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (simulator and tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC).replace(microsecond=0)
        self._now = as_utc(start)

    def now(self) -> datetime:
        """The simulated time (UTC, aware)."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to a moment; time never runs backwards."""
        moment = as_utc(moment)
        if moment > self._now:
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        """Move forward by a duration."""
        self.set(self._now + delta)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
