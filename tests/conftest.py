"""Shared fixtures: no real network, a fresh database per test, the app on the simulator."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness, postgres_schema, running_bot

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if (ip is None and host != "localhost") or (ip is not None and not ip.is_loopback):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection outside loopback fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database: SQLite, and a new schema on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def harness(sqlite_url: str) -> AsyncIterator[Harness]:
    """The demo bot on SQLite with a frozen simulator clock."""
    async with running_bot(sqlite_url) as h:
        yield h


@pytest.fixture
async def harness_any(db_url: str) -> AsyncIterator[Harness]:
    """The demo bot on SQLite and on PostgreSQL."""
    async with running_bot(db_url) as h:
        yield h
