"""Drive the mock puppet-service gateway (tests/wechaty_gateway/gateway.mjs) from tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels.wechaty_adapter import WechatyChannel

GATEWAY_DIR = Path(__file__).resolve().parent.parent / "wechaty_gateway"
REQUIRE_ALL = os.environ.get("REDSTEWARD_REQUIRE_ALL") == "1"
TOKEN = "insecure_redsteward-test-token"  # "insecure_" prefix: the TLS server name (SNI)

BOT_ID = "wxid_redsteward"
ZHANG = "wxid_zhangayi"  # 张阿姨, a resident of 3号楼
LI = "wxid_lidaye"  # 李大爷, a resident of 1号楼 (also in the 3号楼 group)
STEWARD = "wxid_wanghongguan"  # 王红管, the red steward of 阳光花园
GRID = "wxid_liwangge"  # 李网格
ADMIN = "wxid_admin"  # 管理员
ROOM_3 = "room-yg-3"
ROOM_1 = "room-yg-1"
NEW_ROOM = "room-yg-2-new"  # not in config/demo.toml: bound from the chat
TOPIC_3 = "阳光花园3号楼业主群"
TOPIC_1 = "阳光花园1号楼业主群"
NEW_TOPIC = "阳光花园2号楼邻里群"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when REDSTEWARD_REQUIRE_ALL=1 (CI runs everything)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (REDSTEWARD_REQUIRE_ALL=1)", pytrace=False)
    pytest.skip(reason)


def ensure_node_modules() -> Path:
    """The gateway folder with its npm packages installed (npm ci on first use)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed for the Wechaty gateway tests")
    if not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        command = "ci" if (GATEWAY_DIR / "package-lock.json").is_file() else "install"
        result = subprocess.run(
            [str(npm), command, "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=GATEWAY_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            unavailable(f"npm {command} failed in {GATEWAY_DIR}: {result.stderr[-2000:]}")
    return GATEWAY_DIR


def wechaty_root_ca() -> str:
    """The Wechaty community root CA, as shipped in the wechaty-puppet-service npm package."""
    source = (
        GATEWAY_DIR / "node_modules/wechaty-puppet-service/dist/esm/src/auth/ca.js"
    ).read_text(encoding="utf-8")
    match = re.search(r"const TLS_CA_CERT = `([^`]+)`", source)
    assert match, "TLS_CA_CERT not found in wechaty-puppet-service"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Gateway:
    """One mock WeChat behind PuppetServer, as a node process we can kill and restart."""

    def __init__(self, log_path: Path, *, tls: bool, login_by_scan: bool = False) -> None:
        self.tls = tls
        self.login_by_scan = login_by_scan
        self.port = free_port()
        self.control_port = free_port()
        self.token = TOKEN
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the node process and wait until it serves with the bot account logged in."""
        env = {**os.environ, "WECHATY_PUPPET_SERVICE_TOKEN": self.token}
        env.pop("WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER", None)
        if not self.tls:
            env["WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER"] = "true"
        if self.login_by_scan:
            env["GATEWAY_LOGIN"] = "scan"
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                "node",
                "gateway.mjs",
                "--port",
                str(self.port),
                "--control-port",
                str(self.control_port),
                cwd=GATEWAY_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                raise RuntimeError(f"gateway exited: {self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                health = await self.get("/health")
                if health.get("serving") and (health.get("loggedIn") or self.login_by_scan):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"gateway did not come up: {self.log_tail()}")

    async def kill(self) -> None:
        """Kill the node process outright (no goodbye to the client)."""
        if self._process is not None:
            self._process.kill()
            await self._process.wait()
            self._process = None

    def freeze(self) -> None:
        """Stop the process (SIGSTOP): its sockets stay open but nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def close(self) -> None:
        await self.kill()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def log_tail(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{self.control_port}",
                timeout=aiohttp.ClientTimeout(total=10),
            )
        return self._http

    async def get(self, path: str) -> Any:
        session = await self._session()
        async with session.get(path) as response:
            return await response.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        session = await self._session()
        async with session.post(path, json=body) as response:
            data = await response.json()
            assert response.status == 200, data
            return data

    async def say(
        self,
        sender: str,
        text: str,
        *,
        room: str | None = None,
        mentions: tuple[str, ...] = (),
    ) -> str:
        """A person says text in a room, or privately to the bot; returns the message id."""
        body: dict[str, Any] = {"from": sender, "text": text, "mentions": list(mentions)}
        body.update({"room": room} if room else {"to": BOT_ID})
        message_id: str = (await self.post("/say", body))["id"]
        return message_id

    async def image(self, sender: str, *, room: str) -> str:
        message_id: str = (await self.post("/image", {"from": sender, "room": room}))["id"]
        return message_id

    async def replay(self, message_id: str) -> None:
        await self.post("/replay", {"id": message_id})

    async def sent(self) -> list[dict[str, Any]]:
        """What the bot has sent through this gateway process."""
        sent: list[dict[str, Any]] = await self.get("/sent")
        return sent


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    within: float = 15.0,
    what: str = "condition",
) -> Any:
    """Poll check() until it returns something truthy (real I/O: we wait, we don't sleep-guess)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def make_channel(gateway: Gateway, media_dir: Path, **options: Any) -> WechatyChannel:
    """A WechatyChannel for the gateway, with short timeouts and backoff for tests."""
    settings: dict[str, Any] = {
        "insecure": not gateway.tls,
        "probe_interval": 1.0,
        "rpc_timeout": 5.0,
        "login_timeout": 20.0,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
    }
    settings.update(options)
    return WechatyChannel(gateway.endpoint, gateway.token, media_dir=media_dir, **settings)
