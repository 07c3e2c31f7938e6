"""Shared by the bad-input tests and the fuzz harness: hostile texts and a bot to throw them at."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st
from loguru import logger

from config.schema import OutboxConfig, Settings
from tests.harness import Harness, demo_settings, running_bot

T = TypeVar("T")

# the kinds of text the issue names, and their relatives
NASTY = [
    "",
    " ",
    "\u3000\u3000",
    "\x00",
    "\x00\x01\x02\x7f\ufffd\ufeff",
    "\ud7ff\ue000\uffff",
    "🙂🙂🙂🔥💧⚡️🏢",
    "👨\u200d👩\u200d👧\u200d👦" * 20,
    "\u202eاين المصعد\u202c",
    "שלום עולם המעלית תקועה",
    "\u200f\u200e\u202a\u202b\u202d\u202e",
    "'; DROP TABLE ticket; --",
    "1 OR 1=1",
    '" OR ""="',
    "1; DELETE FROM person WHERE 1=1",
    "{0.__class__}",
    "{0.__class__.__mro__[1].__subclasses__()}",
    "{{7*7}}",
    "{% for x in range(9) %}x{% endfor %}",
    "${7*7}",
    "%s%s%s%n%x",
    "%(number)s",
    "{number}{mention}{stewards}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "@" * 50,
    "#" * 50,
    "＃１０２４",
    "9" * 40,
    "²³",
    "١٠٠١",
    "①⑩",
    "-1",
    "0",
    "1e309",
    "NaN",
    "\n\n\n",
    "\t#接单\t1",
]

texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=40)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)

HUGE = "楼道灯坏了" * 50_000 + "x" * 800_000  # about 1 MB of text


@contextmanager
def error_log() -> Iterator[list[str]]:
    """Log lines at ERROR or above (the central handler logs unexpected exceptions so)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    try:
        yield lines
    finally:
        logger.remove(sink)


class SyncBot:
    """A running bot driven from synchronous code (hypothesis runs examples synchronously)."""

    def __init__(self, db_url: str, settings: Settings | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        # no pacing: the frozen clock would hold the 21st answer of a minute back
        unpaced = OutboxConfig(per_room_per_minute=100_000, per_account_per_minute=100_000)
        base = settings or demo_settings()
        self._cm = running_bot(db_url, base.model_copy(update={"outbox": unpaced}))
        self.h: Harness = self.loop.run_until_complete(self._cm.__aenter__())

    def run(self, fn: Callable[[Harness], Coroutine[Any, Any, T]]) -> T:
        """Run an async step against the harness."""
        return self.loop.run_until_complete(fn(self.h))

    def close(self) -> None:
        """Stop the bot and its loop."""
        self.loop.run_until_complete(self._cm.__aexit__(None, None, None))
        self.loop.close()


@contextmanager
def sync_bot(tmp: Path) -> Iterator[SyncBot]:
    """A bot on a fresh SQLite file under tmp."""
    bot = SyncBot(f"sqlite:///{tmp / 'fuzz.db'}")
    try:
        yield bot
    finally:
        bot.close()
