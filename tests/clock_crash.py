"""Run in a subprocess by test_clock_restart: a bot that is killed (SIGKILL) at a chosen point.

`python -m tests.clock_crash DB_URL TMP send`: killed while the reminder is being sent;
`... decide`: killed inside the sweep's transaction, after the reminder was written, before
the commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.jobs import deadlines
from bot.outbox import OutboxSender
from tests.clock_helpers import ROOM3, quiet_settings
from tests.harness import running_bot


def die() -> None:
    """Die the hard way: no cleanup, no flush, no finally."""
    os.kill(os.getpid(), signal.SIGKILL)


async def main(url: str, tmp: str, mode: str) -> None:
    if mode == "send":
        original = OutboxSender._send_one

        async def send_and_die(self: OutboxSender, rows: Any, now: datetime) -> bool:
            if any("时限已过" in r.text for r in (rows if isinstance(rows, list) else [rows])):
                die()
            return await original(self, rows, now)

        OutboxSender._send_one = send_and_die  # type: ignore[method-assign]
    else:
        original_send_all = deadlines.send_all

        def write_and_die(*args: Any) -> int:
            n = original_send_all(*args)
            die()
            return n

        deadlines.send_all = write_and_die  # type: ignore[assignment]
    async with running_bot(url, quiet_settings(Path(tmp))) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        await h.advance(25)
    sys.exit(3)  # not reached: the kill happens at 10:20


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
