"""Several processes share one database: a directory change in one reaches the others."""

from __future__ import annotations

from tests.commands_support import ROOM3, complaint, unchanged
from tests.harness import running_bot


async def test_a_role_set_through_one_process_reaches_another(db_url: str) -> None:
    async with running_bot(db_url) as a, running_bot(db_url) as b:
        # b started last: a's snapshot is older than the database's and is brought up to date
        assert await a.bot.services.directory.refresh() is True
        assert await a.bot.services.directory.refresh() is False
        assert await b.bot.services.directory.refresh() is False
        await complaint(b)
        await b.say(ROOM3, "小刘", "#接单 1001")
        assert (await b.ticket(1001))["assignee_id"] is None  # a resident cannot claim
        await a.say(ROOM3, "管理员", "#设角色 @小刘 网格员", mentions=["小刘"])
        assert "已将小刘设为阳光花园3号楼的网格员" in (await a.bot_lines(ROOM3))[-1]
        assert await a.bot.services.directory.refresh() is False  # its own change is loaded
        # b still has the old snapshot until its periodic refresh runs
        await unchanged(b, ROOM3, "小刘", "#接单 1001")
        assert await b.bot.services.directory.refresh() is True
        await b.say(ROOM3, "小刘", "#接单 1001")
        assert (await b.ticket(1001))["assignee_id"] == "sim_小刘"
