"""`python -m tests.faults_proc NAME N PHASE NOTE -- <bot CLI args>`: the real `python -m bot`
CLI with one fault injected: SIGKILL at the N-th database transaction of this process whose
function is called NAME (``*``: any function).

PHASE: ``before`` (queued, not run), ``inside`` (the function ran, the commit did not) or
``after`` (committed, the caller not yet told). The name of the function the kill hit is
written to NOTE first, so the test knows whether it landed in the at-least-once window
between a channel send and the outbox marking it sent. N 0: no kill.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from storage import Database


def fn_name(fn: Callable[..., Any]) -> str:
    """The function's name (a partial's inner one)."""
    inner = getattr(fn, "func", fn)
    return str(getattr(inner, "__name__", repr(inner)))


def install(target: str, kill_at: int, phase: str, note: str) -> None:
    """Wrap Database.run so that its kill_at-th call of target dies at phase."""
    original = Database.run
    count = 0

    def die(name: str) -> None:
        with open(note, "a", encoding="utf-8") as f:
            f.write(f"{name} {kill_at} {phase}\n")
        os.kill(os.getpid(), signal.SIGKILL)

    async def run(self: Database, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        nonlocal count
        name = fn_name(fn)
        if target in ("*", name):
            count += 1
        if count != kill_at or target not in ("*", name):
            return await original(self, fn, *args, **kw)
        if phase == "before":
            die(name)
        if phase == "inside":

            def fn_then_die(session: Any, *a: Any) -> Any:
                fn(session, *a)
                die(name)

            return await original(self, fn_then_die, *args, **kw)
        result = await original(self, fn, *args, **kw)
        die(name)
        return result

    Database.run = run  # type: ignore[method-assign]


if __name__ == "__main__":
    target, kill_at, phase, note = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    assert sys.argv[5] == "--"
    if kill_at:
        install(target, kill_at, phase, note)
    from bot.__main__ import main

    sys.exit(main(sys.argv[6:]))
