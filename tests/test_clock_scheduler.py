"""APScheduler inside the app's lifecycle: the same triggers as the simulator's next_due."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.app import DIRECTORY_REFRESH_SECONDS, build_bot, create_app
from bot.jobs.digest import DailyDigest
from bot.simulator import SimClock
from storage import Database
from tests.clock_helpers import local, quiet_settings


async def test_scheduler_runs_with_the_app_and_shares_the_jobs_triggers(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path, digest=True, report=True)
    clock = SimClock(local(2026, 11, 23, 10, 0), running=False)
    bot = build_bot(settings, db=Database(sqlite_url), clock=clock)
    client = TestClient(TestServer(create_app(bot, background=True)))
    await client.start_server()
    try:
        scheduler = bot.scheduler
        assert scheduler is not None and scheduler.running
        assert str(scheduler.timezone) == "Asia/Shanghai"
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"tick", "directory", "due:digest", "due:report", "due:prune"}
        assert jobs["directory"].trigger.interval.total_seconds() == DIRECTORY_REFRESH_SECONDS
        [digest] = [w for w in bot.timekeeper.work if isinstance(w, DailyDigest)]
        assert jobs["due:digest"].trigger is digest.trigger
        # in the simulator the same trigger says when the digest is next due
        assert await digest.next_due(clock.now()) == local(2026, 11, 24, 8, 30)
        assert [w.name for w in bot.timekeeper.work] == [
            "deadlines",
            "notices",
            "digest",
            "report",
            "broadcast",
            "votes",
            "prune",
        ]
    finally:
        await client.close()
    assert bot.scheduler is None  # shut down on cleanup
