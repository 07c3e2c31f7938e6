"""Shared by the fault tests: a real `python -m bot run` process driven over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from config.schema import ROOT

DEMO_TOML = ROOT / "config" / "demo.toml"


def scratch_config(tmp: Path) -> Path:
    """The demo config with media and reports under tmp and no digest chart (faster)."""
    text = DEMO_TOML.read_text(encoding="utf-8")
    text = text.replace("[bot]\n", f'[bot]\nmedia_dir = "{tmp / "media"}"\n', 1)
    text = text.replace('dir = "var/reports"', f'dir = "{tmp / "reports"}"')
    text = text.replace("chart = true", "chart = false")
    out = tmp / "bot.toml"
    out.write_text(text, encoding="utf-8")
    return out


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Died(Exception):
    """The process went away during a request."""


@dataclass
class BotProcess:
    """One life of the bot process."""

    tmp: Path
    db_url: str
    start: datetime
    target: str = "*"
    kill_at: int = 0
    phase: str = "after"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def note(self) -> Path:
        """Where the injector writes what it killed."""
        return self.tmp / "kills.txt"

    @property
    def send_log(self) -> Path:
        """Every real send, one JSON line each."""
        return self.tmp / "sent.jsonl"

    def launch(self) -> bool:
        """Start and wait (bounded) until it answers; False if it died on the way up."""
        cmd = [
            sys.executable,
            "-m",
            "tests.faults_proc",
            self.target,
            str(self.kill_at),
            self.phase,
            str(self.note),
            "--",
            "run",
            "--config",
            str(scratch_config(self.tmp)),
            "--db",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--sim-start",
            self.start.isoformat(),
            "--sim-frozen",
            "--sim-send-log",
            str(self.send_log),
            "--log-level",
            "INFO",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with (self.tmp / "bot.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # readiness: a bounded wait on the process
            if self.proc.poll() is not None:
                return False
            try:
                self.request("GET", "/api/sim/clock")
                return True
            except Died:
                time.sleep(0.05)
        raise AssertionError("the bot did not come up within 60 s")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One HTTP request; Died when the connection breaks."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Died(str(e)) from e
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")

    def wait_killed(self) -> None:
        """The process must have died of SIGKILL (not of an error)."""
        assert self.proc is not None
        rc = self.proc.wait(timeout=60)
        log = (self.tmp / "bot.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        assert rc == -signal.SIGKILL, f"exit {rc}:\n{log}"

    def stop(self) -> None:
        """A clean stop (SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
