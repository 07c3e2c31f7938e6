"""docs/wechaty.md's "try it on the mock gateway", as a newcomer would type it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from mock_wechat import ROOM_3, STEWARD, ZHANG, Gateway, eventually, free_port

from config.schema import ROOT

pytestmark = [pytest.mark.wechaty, pytest.mark.slow]


async def test_python_m_bot_run_channel_wechaty_answers_in_a_mocked_room(
    gateway: Gateway, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "WECHATY_PUPPET_SERVICE_ENDPOINT": gateway.endpoint,
        "WECHATY_PUPPET_SERVICE_TOKEN": gateway.token,
        "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT": "true",
    }
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log:
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(ROOT / "config" / "demo.toml"),
            "--channel",
            "wechaty",
            "--db",
            f"sqlite:///{tmp_path / 'bot.db'}",
            "--port",
            str(free_port()),
            cwd=tmp_path,  # var/media lands here
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:

        def bot_log() -> str:
            return log_path.read_text(encoding="utf-8", errors="replace")

        await eventually(lambda: "logged in as" in bot_log(), within=30, what="the bot to log in")
        await gateway.say(ZHANG, "3号楼2单元楼道灯坏了好几天了", room=ROOM_3)
        signals = ""
        try:
            [ack] = await eventually(gateway.sent, what="the bot's answer")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the bot's log:\n{bot_log()}") from None
        assert ack["roomId"] == ROOM_3
        assert "#1001" in ack["text"] and "@王红管" in ack["text"]
        assert ack["mentionIds"] == [ZHANG, STEWARD]
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(bot.wait(), 60)
            except TimeoutError:
                bot.send_signal(signal.SIGUSR1)  # the stacks of a shutdown that hangs, to the log
                await asyncio.sleep(1)
                bot.kill()
                await bot.wait()
    assert bot.returncode == 0, (
        f"exit code {bot.returncode}; signals {signals!r}; the bot's log:\n{bot_log()}"
    )
