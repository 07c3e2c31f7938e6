"""cancel_and_wait: a shutdown ends a task even when a cancellation of it is lost."""

from __future__ import annotations

import asyncio

from bot.tasks import cancel_and_wait


async def test_a_task_that_loses_one_cancellation_is_cancelled_again_and_ends() -> None:
    lost: list[int] = []

    async def loop() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not lost:
                    lost.append(1)  # as Python 3.11's wait_for may do: carry on
                    continue
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    assert await asyncio.wait_for(cancel_and_wait(task, within=10, what="the loop"), 5)
    assert lost == [1] and task.cancelled()


async def test_a_task_that_never_ends_is_reported_not_waited_for_forever() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert not await asyncio.wait_for(cancel_and_wait(task, within=0.3, what="it"), 5)
    assert not task.done()
    released.set()  # the test's own clean-up: it ends at its next cancellation
    assert await cancel_and_wait(task, within=5, what="it")
