"""Driving the whole bot through the simulator: a factory for messages, a recording channel."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine

from bot.app import Bot, build_bot, create_app
from bot.simulator import SimChannel, SimClock
from config.schema import ROOT, Settings, load_settings
from storage import Database
from storage.scratch import postgres_schema as scratch_schema

DEMO = ROOT / "config" / "demo.toml"
# Monday 2026-11-23 10:00 in Shanghai: a working day, outside quiet hours
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PG_URL = os.environ.get("REDSTEWARD_PG_URL", "postgresql://127.0.0.1:5432/test")


def require_all() -> bool:
    """CI sets this: a suite that cannot run fails instead of skipping."""
    return os.environ.get("REDSTEWARD_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose infrastructure is missing, or fail it in CI."""
    if require_all():
        pytest.fail(f"{reason} (REDSTEWARD_REQUIRE_ALL=1: not skipping)")
    pytest.skip(reason)


def demo_settings(**overrides: Any) -> Settings:
    """The demo configuration, with top-level sections replaced."""
    s = load_settings(DEMO)
    return s.model_copy(update=overrides) if overrides else s


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh schema on the local PostgreSQL server, dropped afterwards; yields its URL."""
    try:
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect():
            pass
        engine.dispose()
    except Exception as e:  # no server: skip (or fail in CI)
        skip_or_fail(f"PostgreSQL not reachable at {PG_URL}: {type(e).__name__}")
    async with scratch_schema(PG_URL) as url:
        yield url


class Harness:
    """The running app, talked to through the simulator's HTTP API like outside tools do."""

    def __init__(self, bot: Bot, client: TestClient) -> None:
        self.bot = bot
        self.client = client

    @property
    def sim(self) -> SimChannel:
        """The simulator channel."""
        assert self.bot.sim is not None
        return self.bot.sim

    @property
    def db(self) -> Database:
        """The database."""
        return self.bot.services.db

    async def say(self, room: str | None, sender: str, text: str, **extra: Any) -> dict[str, Any]:
        """A person writes in a room (by topic) or, with room None, privately to the bot."""
        body: dict[str, Any] = {"sender": sender, "text": text, **extra}
        if room is not None:
            body["room"] = room
        r = await self.client.post("/api/sim/messages", json=body)
        assert r.status == 200, await r.text()
        return dict(await r.json())

    async def room(self, topic: str) -> list[dict[str, Any]]:
        """A room's transcript."""
        r = await self.client.get("/api/sim/messages", params={"room": topic})
        assert r.status == 200, await r.text()
        return list((await r.json())["messages"])

    async def bot_lines(self, topic: str) -> list[str]:
        """What the bot posted in a room."""
        return [m["text"] for m in await self.room(topic) if m["from_bot"]]

    async def private(self, name: str) -> list[str]:
        """What the bot said to a person in private chat."""
        r = await self.client.get("/api/sim/messages", params={"person": name})
        assert r.status == 200, await r.text()
        return [m["text"] for m in (await r.json())["messages"] if m["from_bot"]]

    async def advance(self, minutes: float) -> None:
        """Let simulated time pass, running what falls due."""
        r = await self.client.post("/api/sim/clock", json={"advance_minutes": minutes})
        assert r.status == 200, await r.text()

    async def tickets(self, **params: str) -> list[dict[str, Any]]:
        """Tickets through the JSON API."""
        r = await self.client.get("/api/tickets", params=params)
        assert r.status == 200, await r.text()
        return list((await r.json())["tickets"])

    async def ticket(self, number: int) -> dict[str, Any]:
        """One ticket with its log."""
        r = await self.client.get(f"/api/tickets/{number}")
        assert r.status == 200, await r.text()
        return dict(await r.json())


@asynccontextmanager
async def running_bot(
    db_url: str, settings: Settings | None = None, start: datetime = START
) -> AsyncIterator[Harness]:
    """The whole app on a frozen simulator clock, served on a loopback port."""
    settings = settings or demo_settings()
    clock = SimClock(start, running=False)
    bot = build_bot(settings, db=Database(db_url), clock=clock)
    app = create_app(bot, background=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Harness(bot, client)
    finally:
        await client.close()


def later(minutes: float, start: datetime = START) -> datetime:
    """A moment some minutes after the start."""
    return start + timedelta(minutes=minutes)
