"""The hub on the dashboard: the notice form with preview and 确认, photos, vote export."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp import FormData
from openpyxl import load_workbook
from sqlmodel import select

from config.schema import HouseholdConfig
from storage.models import Notice
from tests.clock_helpers import quiet_settings
from tests.harness import running_bot
from tests.web.util import page_csrf, sign_in

ROOM3 = "阳光花园3号楼业主群"
YG = ["阳光花园1号楼业主群", "阳光花园2号楼业主群", ROOM3]


async def test_a_notice_from_the_dashboard_form_is_previewed_then_sent(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_bot(sqlite_url, quiet_settings(tmp_path)) as h:
        c = h.client
        for path in ("/hub", "/hub/notices/1", "/downloads/vote/1.xlsx"):
            r = await c.get(path, allow_redirects=False)
            assert r.status == 302 and r.headers["Location"].startswith("/login"), path
        assert await sign_in(c, "赵书记") == 302
        token = await page_csrf(c, "/hub")
        # without the form's token: refused, nothing stored
        r = await c.post("/hub/notices", data={"scope": "阳光花园", "text": "x"})
        assert r.status == 403
        r = await c.post(
            "/hub/notices",
            data={
                "_csrf": token,
                "scope": "阳光花园",
                "text": "停水 时间：11月24日 8:00-12:00",
                "when": "",
            },
            allow_redirects=False,
        )
        assert r.status == 302 and r.headers["Location"] == "/hub/notices/1"
        page = await (await c.get("/hub/notices/1")).text()
        assert "【停水通知】因供水管网维修，阳光花园将于11月24日 8:00-12:00停水" in page
        assert "确认发送" in page and "阳光花园1号楼业主群" in page
        assert [await h.bot_lines(r) for r in YG] == [[], [], []]
        r = await c.post("/hub/notices/1/confirm", data={"_csrf": token}, allow_redirects=False)
        assert r.status == 302
        await h.advance(1)
        assert [len(await h.bot_lines(r)) for r in YG] == [1, 1, 1]
        assert (await h.private("赵书记"))[-1] == "通知 #1 发送结果：已送达 3/3 个群。"
        page = await (await c.get("/hub/notices/1")).text()
        assert page.count("已送达") == 3
        hub = await (await c.get("/hub")).text()
        assert 'data-id="1"' in hub and "已发送" in hub
        # a range outside the area is refused with the reason
        r = await c.post("/hub/notices", data={"_csrf": token, "scope": "幸福小区", "text": "x"})
        assert r.status == 400 and "没有找到范围" in await r.text()

        def count(session: Any) -> int:
            return len(session.exec(select(Notice)).all())

        assert await h.db.run(count) == 1


async def test_the_ticket_page_shows_photos_and_a_vote_exports(
    sqlite_url: str, tmp_path: Path
) -> None:
    regs = [
        HouseholdConfig(
            compound="阳光花园", building="3号楼", room="1-101", area=90, owners=["张阿姨"]
        )
    ]
    async with running_bot(sqlite_url, quiet_settings(tmp_path, households=regs)) as h:
        await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
        form = FormData()
        form.add_field("room", ROOM3)
        form.add_field("sender", "张阿姨")
        form.add_field("file", b"\x89PNG\r\n\x1a\n" + b"z" * 64, filename="a.png")
        url = (await (await h.client.post("/api/sim/images", data=form)).json())["image"]
        await h.say(
            None,
            "管理员",
            "#表决 阳光花园3号楼 是否同意设置快递柜 选项 同意/不同意 截止 明天 18:00",
        )
        await h.say(ROOM3, "张阿姨", "#投票 1 1")
        await h.advance(2 * 24 * 60)
        c = h.client
        assert await sign_in(c, "赵书记") == 302
        page = await (await c.get("/tickets/1001")).text()
        assert f'<img src="{url}"' in page and "现场照片 · 张阿姨" in page
        hub = await (await c.get("/hub")).text()
        assert "是否同意设置快递柜" in hub and "/downloads/vote/1.xlsx" in hub
        r = await c.get("/downloads/vote/1.xlsx")
        assert r.status == 200
        wb = load_workbook(io.BytesIO(await r.read()))
        rows = list(wb["选票"].iter_rows(values_only=True))
        assert [(x[0], x[1], x[3]) for x in rows[1:]] == [("阳光花园3号楼1-101", "张阿姨", "同意")]
        assert (await c.get("/downloads/vote/9.xlsx")).status == 404
