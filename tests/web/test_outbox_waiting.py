"""What the outbox holds back is visible: on the admin's overview and in the log."""

from __future__ import annotations

import re

from loguru import logger

from tests.harness import demo_settings, running_bot
from tests.web.util import sign_in

ROOM3 = "阳光花园3号楼业主群"


async def test_paced_messages_show_on_the_overview_and_in_the_log(sqlite_url: str) -> None:
    s = demo_settings()
    s = s.model_copy(update={"outbox": s.outbox.model_copy(update={"per_room_per_minute": 1})})
    lines: list[str] = []
    sink = logger.add(lines.append, level="INFO")
    try:
        async with running_bot(sqlite_url, s) as h:
            for i in range(3):
                await h.say(ROOM3, f"居民{i}", f"{i + 1}单元电梯坏了，按钮没反应")
            assert len(await h.bot_lines(ROOM3)) == 1
            assert await sign_in(h.client, "管理员") == 302
            html = await (await h.client.get("/")).text()
            m = re.search(r'id="outbox-waiting">(\d+)<', html)
            assert m and int(m.group(1)) == 2
            assert await sign_in(h.client, "赵书记") == 302
            assert 'id="outbox-waiting"' not in await (await h.client.get("/")).text()
    finally:
        logger.remove(sink)
    assert any("waiting for the per-group/per-account pace" in line for line in lines)
