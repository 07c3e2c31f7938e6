"""The demo configuration plus a second community with its own secretary (another area)."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from config.schema import Settings, parse_settings
from tests.harness import DEMO, Harness, running_bot

OTHER_ROOM = "幸福里1号楼业主群"


def two_area_settings() -> Settings:
    """Demo settings with 青年社区 (幸福里 1号楼) and its secretary 郑书记 (password demo)."""
    data: dict[str, Any] = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    data["communities"].append(
        {
            "name": "青年社区",
            "street": "燕山街道",
            "district": "历下区",
            "compounds": [{"name": "幸福里", "buildings": ["1号楼"]}],
        }
    )
    data["rooms"].append(
        {"id": "room-xf-1", "topic": OTHER_ROOM, "compound": "幸福里", "building": "1号楼"}
    )
    data["people"] += [
        {
            "id": "wxid_zhengshuji",
            "name": "郑书记",
            "password": "demo",
            "roles": [{"role": "community_secretary", "community": "青年社区"}],
        },
        {
            "id": "wxid_fengguanjia",
            "name": "冯管家",
            "roles": [{"role": "red_steward", "compound": "幸福里"}],
        },
    ]
    return parse_settings(data, "two-areas")


@pytest.fixture
async def web(sqlite_url: str) -> AsyncIterator[Harness]:
    """The bot with two communities, on SQLite."""
    async with running_bot(sqlite_url, two_area_settings()) as h:
        yield h


@pytest.fixture
async def web_any(db_url: str) -> AsyncIterator[Harness]:
    """The bot with two communities, on SQLite and PostgreSQL."""
    async with running_bot(db_url, two_area_settings()) as h:
        yield h
