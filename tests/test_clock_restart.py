"""A real process killed between a deadline and its reminder: exactly one reminder after restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from config.schema import ROOT
from storage.models import OutboxMessage, TicketEvent
from tests.clock_helpers import ROOM3, local, quiet_settings
from tests.harness import running_bot


def run_and_kill(url: str, tmp: Path, mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.clock_crash", url, str(tmp), mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]


@pytest.mark.parametrize("mode", ["send", "decide"])
async def test_killed_process_sends_exactly_one_reminder_after_restart(
    sqlite_url: str, tmp_path: Path, mode: str
) -> None:
    run_and_kill(sqlite_url, tmp_path, mode)
    settings = quiet_settings(tmp_path)

    def outbox(session):  # type: ignore[no-untyped-def]
        return [(o.key, o.status) for o in session.exec(select(OutboxMessage))]

    def events(session):  # type: ignore[no-untyped-def]
        return [e.kind for e in session.exec(select(TicketEvent).order_by(TicketEvent.id))]

    async with running_bot(sqlite_url, settings, start=local(2026, 11, 23, 10, 26)) as h:
        before = await h.db.run(outbox)
        reminders = [s for k, s in before if k.startswith("remind:")]
        # send: decided and committed, caught mid-send (requeued at start-up); decide: rolled back
        assert reminders == (["pending", "pending"] if mode == "send" else [])
        await h.advance(0)
        assert [x for x in await h.bot_lines(ROOM3) if "时限已过" in x] == [
            "@王红管\u2005⏰提醒：工单 #1001【设施维修】3号楼2单元楼道的响应时限已过"
            "（应在11月23日 10:20前），请尽快处理：发送“#接单 1001”认领"
        ]
        assert len(await h.private("王红管")) == 1
        await h.advance(1)
        assert len([x for x in await h.bot_lines(ROOM3) if "时限已过" in x]) == 1
        after = await h.db.run(outbox)
        assert sorted(s for k, s in after if k.startswith("remind:")) == ["sent", "sent"]
        assert (await h.db.run(events)).count("reminded") == 1
