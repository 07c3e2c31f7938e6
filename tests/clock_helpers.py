"""Helpers shared by the clock's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from config.schema import DigestConfig, ReportConfig, Settings
from tests.harness import Harness, demo_settings

TZ = ZoneInfo("Asia/Shanghai")
ROOM3 = "阳光花园3号楼业主群"
ROOM5 = "和平新村5号楼业主群"


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock moment as aware UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(UTC)


def quiet_settings(tmp: Path, *, digest: bool = False, report: bool = False, **kw: Any) -> Settings:
    """The demo settings with media and reports under tmp, digest/report off unless asked."""
    base = demo_settings()
    return base.model_copy(
        update={
            "bot": base.bot.model_copy(update={"media_dir": str(tmp / "media")}),
            "digest": DigestConfig(enabled=digest),
            "report": ReportConfig(enabled=report, dir=str(tmp / "reports")),
            **kw,
        }
    )


async def private_entries(h: Harness, name: str) -> list[dict[str, Any]]:
    """A person's private chat entries from the bot, with times and images."""
    r = await h.client.get("/api/sim/messages", params={"person": name})
    assert r.status == 200
    return [m for m in (await r.json())["messages"] if m["from_bot"]]


def at_local(entry: dict[str, Any]) -> str:
    """A transcript entry's time as local 'MM-DD HH:MM'."""
    return datetime.fromisoformat(entry["time"]).astimezone(TZ).strftime("%m-%d %H:%M")
