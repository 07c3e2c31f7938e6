"""Ending asyncio tasks for sure.

In Python 3.11, ``asyncio.wait_for`` can lose a cancellation that lands just as the awaitable
it guards completes or times out: the task then runs on as if never cancelled. A shutdown
that cancels a loop once and waits for it (the outbox loop, a channel's reconnect loop)
would wait forever, and so would the event loop's own shutdown.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loguru import logger


async def cancel_and_wait(task: asyncio.Task[Any], *, within: float, what: str) -> bool:
    """Cancel task and wait until it has ended, cancelling it again every second meanwhile.

    True once it has ended; False (logged) if it is still running after `within` seconds.
    The caller's own cancellation is never swallowed here.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    tries = 0
    while not task.done():
        if tries:
            logger.warning("{} ignored a cancellation; cancelling it again", what)
        tries += 1
        task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            logger.error("{} did not end within {:.0f} s; left behind", what, within)
            return False
        await asyncio.wait({task}, timeout=min(1.0, left))
    return True
