"""Three bot processes, one per WeChat account, on one PostgreSQL: everything is sent once.

Each process is a real `python -m bot run` on a loopback port with the simulator channel,
its own bot.self_id and its own groups, sharing the district's buildings and people. The
test drives messages and clock advances through their simulator APIs — concurrently, so the
deadline sweeps, digests and notices of all three race for the same work.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from config.schema import ROOT
from tests.harness import DEMO, START, postgres_schema

# account -> the groups its WeChat account sits in (topics as in config/demo.toml)
ACCOUNTS = {
    "wxid_bot_a": ["room-yg-1", "room-yg-2"],
    "wxid_bot_b": ["room-yg-3"],
    "wxid_bot_c": ["room-hp-5", "room-hp-6"],
}
TOPICS = {
    "room-yg-1": "阳光花园1号楼业主群",
    "room-yg-2": "阳光花园2号楼业主群",
    "room-yg-3": "阳光花园3号楼业主群",
    "room-hp-5": "和平新村5号楼业主群",
    "room-hp-6": "和平新村6号楼业主群",
}
PEOPLE = ["王红管", "孙管家", "李网格", "周网格", "赵书记", "钱主任", "吴科长", "管理员"]
COMPLAINTS = [
    "{b}楼道灯坏了好几天了，晚上看不见",
    "{b}电梯又坏了，老人上不去楼",
    "{b}门口垃圾好几天没人收了，臭死了",
]


def account_config(account: str, rooms: list[str], db_url: str) -> str:
    """demo.toml with another bot account, its own groups and the shared database."""
    source = DEMO.read_text(encoding="utf-8")
    source = source.replace('self_id = "wxid_redsteward"', f'self_id = "{account}"')
    source = re.sub(r'database = ".*"', f'database = "{db_url}"', source, count=1)
    head, *blocks = source.split("[[rooms]]")
    kept = [b for b in blocks if re.search(r'id = "(.*?)"', b).group(1) in rooms]  # type: ignore[union-attr]
    # the last room block runs on into [[people]]: keep what follows the rooms
    tail = blocks[-1][blocks[-1].index("[[people]]") :]
    kept = [b if "[[people]]" not in b else b[: b.index("[[people]]")] for b in kept]
    return head + "".join("[[rooms]]" + b for b in kept) + tail


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """One bot process and its simulator API."""

    def __init__(self, account: str, port: int, proc: asyncio.subprocess.Process) -> None:
        self.account = account
        self.port = port
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    async def call(self, http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
        """One request to the process's API."""
        async with http.request(method, self.base + path, **kw) as r:
            assert r.status == 200, await r.text()
            return await r.json()


async def wait_ready(http: aiohttp.ClientSession, p: Process) -> None:
    """Until the process answers on its port (startup: migrations, config, jieba)."""
    for _ in range(1200):
        if p.proc.returncode is not None:
            raise AssertionError(f"{p.account} exited with {p.proc.returncode}")
        try:
            async with http.get(p.base + "/api/sim/clock") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)  # waiting for a process to start, not timing anything
    raise AssertionError(f"{p.account} did not start")


@asynccontextmanager
async def processes(db_url: str, tmp: Path) -> AsyncIterator[list[Process]]:
    """Start the three processes one after the other (the first migrates the schema)."""
    started: list[Process] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = ExitStack()
    try:
        async with aiohttp.ClientSession() as http:
            for account, rooms in ACCOUNTS.items():
                cfg = tmp / f"{account}.toml"
                cfg.write_text(account_config(account, rooms, db_url), encoding="utf-8")
                port = free_port()
                log = logs.enter_context((tmp / f"{account}.log").open("wb"))
                proc = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "bot", "run", "--config", str(cfg)),
                    *("--host", "127.0.0.1", "--port", str(port)),
                    *("--sim-start", START.isoformat(), "--sim-frozen"),
                    cwd=tmp,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                p = Process(account, port, proc)
                started.append(p)
                await wait_ready(http, p)
        yield started
    finally:
        for p in started:
            if p.proc.returncode is None:
                p.proc.terminate()
        for p in started:
            try:
                await asyncio.wait_for(p.proc.wait(), timeout=30)
            except TimeoutError:
                p.proc.kill()
        logs.close()


async def test_three_processes_send_every_reminder_notice_and_digest_once(tmp_path: Path) -> None:
    """Three accounts on one PostgreSQL: unique numbers, each message sent once, by its account."""
    async with postgres_schema() as url:
        async with processes(url, tmp_path) as procs, aiohttp.ClientSession() as http:
            # residents report at once in every group of every account
            says = []
            for p in procs:
                for room in ACCOUNTS[p.account]:
                    b = TOPICS[room][4:7]  # "1号楼"
                    for i, template in enumerate(COMPLAINTS):
                        says.append(
                            p.call(
                                http,
                                "POST",
                                "/api/sim/messages",
                                json={
                                    "room": TOPICS[room],
                                    "sender": f"居民{room[-1]}{i}",
                                    "text": template.format(b=b),
                                },
                            )
                        )
            await asyncio.gather(*says)
            # two days and a bit, in steps, every process advancing at the same time:
            # reminders, escalations, quiet hours, two digests and the 5,15,25 notice
            for _ in range(26):
                await asyncio.gather(
                    *(
                        p.call(http, "POST", "/api/sim/clock", json={"advance_minutes": 120})
                        for p in procs
                    )
                )
            seen: Counter[tuple[str, str, str]] = Counter()  # (chat, text, image) -> times
            for p in procs:
                for room in ACCOUNTS[p.account]:
                    got = await p.call(
                        http, "GET", "/api/sim/messages", params={"room": TOPICS[room]}
                    )
                    for m in got["messages"]:
                        if m["from_bot"]:
                            seen[(room, m["text"], m.get("image", ""))] += 1
                for name in PEOPLE:
                    got = await p.call(http, "GET", "/api/sim/messages", params={"person": name})
                    for m in got["messages"]:
                        if m["from_bot"]:
                            seen[(name, m["text"], m.get("image", ""))] += 1

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                numbers = [r[0] for r in conn.execute(text("SELECT number FROM ticket"))]
                sent = conn.execute(
                    text(
                        "SELECT key, room_id, account FROM outboxmessage "
                        "WHERE status = 'sent' ORDER BY id"
                    )
                ).all()
                statuses = dict(
                    conn.execute(
                        text("SELECT status, count(*) FROM outboxmessage GROUP BY status")
                    ).all()
                )
                points = conn.execute(
                    text(
                        "SELECT ticket_id, kind, data FROM ticketevent "
                        "WHERE kind IN ('reminded', 'escalated', 'alerted')"
                    )
                ).all()
                rooms = dict(conn.execute(text("SELECT id, account FROM room")).all())
        finally:
            engine.dispose()

    # every complaint made a ticket, and their numbers are unique
    assert len(numbers) == sum(len(r) for r in ACCOUNTS.values()) * len(COMPLAINTS)
    assert len(set(numbers)) == len(numbers)
    # each room is owned by the account whose config names it; its posts went through it
    assert rooms == {room: acc for acc, rs in ACCOUNTS.items() for room in rs}
    for key, room_id, account in sent:
        if room_id is not None:
            assert account == rooms[room_id], key
    # the clock work happened: reminders, digests and the notice, each decided once
    keys = [k for k, _, _ in sent]
    assert any(k.startswith("remind:") for k in keys)
    assert any(k.startswith("escalate:") for k in keys)
    assert any(k.startswith("digest:") for k in keys)
    assert any(k.startswith("notice:") for k in keys)
    decided = Counter(
        (t, kind, str((d or {}).get("deadline")), str((d or {}).get("at"))) for t, kind, d in points
    )
    assert all(n == 1 for n in decided.values()), decided
    # nothing left unsent or failed, and every sent row was seen exactly once in a chat
    assert set(statuses) <= {"sent", "merged"}, statuses
    assert [k for k, n in seen.items() if n > 1] == []
    assert sum(seen.values()) == statuses["sent"]
    # all three accounts sent something
    assert {a for _, _, a in sent} == set(ACCOUNTS)
