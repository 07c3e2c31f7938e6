"""The whole bot on the Wechaty channel, against the official puppet-service stack.

The demo configuration's rooms and people are the gateway's mocked WeChat: 阳光花园3号楼业主群
is room-yg-3, the steward 王红管 is wxid_wanghongguan, the bot is wxid_redsteward.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from mock_wechat import (
    ADMIN,
    BOT_ID,
    LI,
    NEW_ROOM,
    ROOM_3,
    STEWARD,
    ZHANG,
    Gateway,
    eventually,
    make_channel,
)

from bot.app import build_bot, create_app
from bot.channels.wechaty_adapter import WechatyChannel
from config.schema import QuietHours
from storage import Database
from tests.harness import demo_settings

pytestmark = [pytest.mark.wechaty, pytest.mark.slow]

COMPLAINT = "3号楼2单元楼道灯坏了好几天了，晚上摔了一跤"


@dataclass
class LiveBot:
    """The app serving its API, talking WeChat through the gateway."""

    gateway: Gateway
    channel: WechatyChannel
    client: TestClient

    async def tickets(self) -> list[dict[str, Any]]:
        response = await self.client.get("/api/tickets")
        assert response.status == 200, await response.text()
        return list((await response.json())["tickets"])

    async def room_lines(self, room_id: str) -> list[dict[str, Any]]:
        """What the bot posted in a mocked room (through this gateway process)."""
        return [s for s in await self.gateway.sent() if s["roomId"] == room_id]

    async def private_lines(self, person_id: str) -> list[dict[str, Any]]:
        return [s for s in await self.gateway.sent() if s["toId"] == person_id]


@pytest.fixture
async def live(gateway: Gateway, tmp_path: Path) -> AsyncIterator[LiveBot]:
    # quiet hours off: the test must not depend on the hour in Shanghai when it runs
    settings = demo_settings(quiet_hours=QuietHours(enabled=False))
    assert settings.bot.self_id == BOT_ID
    assert {r.id for r in settings.rooms} >= {ROOM_3}
    channel = make_channel(gateway, tmp_path / "media")
    bot = build_bot(settings, db=Database(f"sqlite:///{tmp_path / 'bot.db'}"), channel=channel)
    client = TestClient(TestServer(create_app(bot, background=True)))
    await client.start_server()
    try:
        assert channel.connected, gateway.log_tail()
        yield LiveBot(gateway, channel, client)
    finally:
        try:
            await asyncio.wait_for(client.close(), 60)
        except TimeoutError:
            pytest.fail(f"the app did not shut down within 60s; its tasks:\n{task_stacks()}")


def task_stacks() -> str:
    """Where every task of this loop waits (for a shutdown that hangs)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n")
        task.print_stack(file=out)
    return out.getvalue()


async def test_a_complaint_becomes_a_ticket_acknowledged_in_the_room_with_the_steward(
    live: LiveBot,
) -> None:
    await live.gateway.say(ZHANG, COMPLAINT, room=ROOM_3)

    [ack] = await eventually(lambda: live.room_lines(ROOM_3), what="the acknowledgement")
    assert ack["text"].startswith("@张阿姨")
    assert "#1001" in ack["text"] and "【设施维修】" in ack["text"] and "@王红管" in ack["text"]
    assert ZHANG in ack["mentionIds"] and STEWARD in ack["mentionIds"]
    [ticket] = await live.tickets()
    assert (ticket["number"], ticket["category"], ticket["reporter_id"]) == (1001, "repair", ZHANG)


async def test_a_private_message_reaches_the_bot_and_is_answered(live: LiveBot) -> None:
    await live.gateway.say(LI, "你好，请问怎么报修？")
    [reply] = await eventually(lambda: live.private_lines(LI), what="a private reply")
    assert reply["roomId"] is None
    assert reply["text"]


async def test_a_replayed_message_makes_no_second_ticket(live: LiveBot) -> None:
    message_id = await live.gateway.say(ZHANG, COMPLAINT, room=ROOM_3)
    await eventually(lambda: live.room_lines(ROOM_3), what="the acknowledgement")

    await live.gateway.replay(message_id)
    # the adapter handles events in order: once this private message is answered, the replay
    # before it has been through the pipeline too
    await live.gateway.say(LI, "你好")
    await eventually(lambda: live.private_lines(LI), what="the reply after the replay")

    assert len(await live.tickets()) == 1
    assert len(await live.room_lines(ROOM_3)) == 1


async def test_the_bot_reconnects_after_the_gateway_restarts_and_goes_on(live: LiveBot) -> None:
    await live.gateway.say(ZHANG, COMPLAINT, room=ROOM_3)
    await eventually(lambda: live.room_lines(ROOM_3), what="the first acknowledgement")

    await live.gateway.kill()
    await eventually(lambda: not live.channel.connected, what="the bot to notice")
    await live.gateway.start()  # a fresh process: its record of sent messages starts empty
    assert await live.channel.wait_connected(20), live.gateway.log_tail()

    await live.gateway.say(LI, "3号楼门口的垃圾三天没人收了，都臭了", room=ROOM_3)
    [ack] = await eventually(lambda: live.room_lines(ROOM_3), what="the acknowledgement")
    assert "#1002" in ack["text"] and "【环境卫生】" in ack["text"]
    assert LI in ack["mentionIds"] and STEWARD in ack["mentionIds"]
    assert sorted(t["number"] for t in await live.tickets()) == [1001, 1002]


async def test_the_steward_claims_the_ticket_from_the_group(live: LiveBot) -> None:
    await live.gateway.say(ZHANG, COMPLAINT, room=ROOM_3)
    await eventually(lambda: live.room_lines(ROOM_3), what="the acknowledgement")

    await live.gateway.say(STEWARD, "#接单 1001", room=ROOM_3)
    lines = await eventually(
        lambda: _at_least(live.room_lines(ROOM_3), 2), what="the group to be told"
    )
    told = lines[1]
    assert "#1001" in told["text"] and "王红管" in told["text"] and "接单" in told["text"]
    assert ZHANG in told["mentionIds"]
    [ticket] = await live.tickets()
    assert ticket["status"] == "claimed"


async def test_a_new_group_is_bound_to_its_building_from_the_chat(live: LiveBot) -> None:
    await live.gateway.say(ZHANG, "2号楼楼道灯坏了好几天了", room=NEW_ROOM)
    [unbound] = await eventually(lambda: live.room_lines(NEW_ROOM), what="the unbound notice")
    assert "#绑定" in unbound["text"]
    assert await live.tickets() == []

    await live.gateway.say(ADMIN, "#绑定 阳光花园 2号楼", room=NEW_ROOM)
    lines = await eventually(lambda: _at_least(live.room_lines(NEW_ROOM), 2), what="bound")
    assert "2号楼" in lines[1]["text"]

    await live.gateway.say(ZHANG, "2号楼楼道灯坏了好几天了，晚上看不见", room=NEW_ROOM)
    lines = await eventually(lambda: _at_least(live.room_lines(NEW_ROOM), 3), what="the ack")
    assert "#1001" in lines[2]["text"] and STEWARD in lines[2]["mentionIds"]
    [ticket] = await live.tickets()
    assert ticket["reporter_id"] == ZHANG


async def _at_least(lines: Awaitable[list[dict[str, Any]]], n: int) -> list[dict[str, Any]]:
    found = await lines
    return found if len(found) >= n else []
