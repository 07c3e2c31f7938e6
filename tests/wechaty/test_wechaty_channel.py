"""WechatyChannel against the official puppet-service stack (PuppetServer + PuppetMock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mock_wechat import (
    BOT_ID,
    GRID,
    LI,
    NEW_ROOM,
    NEW_TOPIC,
    ROOM_1,
    ROOM_3,
    STEWARD,
    TOPIC_1,
    TOPIC_3,
    ZHANG,
    Gateway,
    eventually,
    make_channel,
    wechaty_root_ca,
)

from bot.channel import ChannelError, Incoming, Outgoing, RoomEvent
from bot.channels.wechaty_adapter import WechatyChannel

pytestmark = [pytest.mark.wechaty, pytest.mark.slow]


class Recorder:
    """Collects what the channel delivers."""

    def __init__(self) -> None:
        self.messages: list[Incoming] = []
        self.room_events: list[RoomEvent] = []

    async def on_message(self, message: Incoming) -> None:
        self.messages.append(message)

    async def on_room_event(self, event: RoomEvent) -> None:
        self.room_events.append(event)

    def by_id(self, message_id: str) -> list[Incoming]:
        return [m for m in self.messages if m.message_id == message_id]

    async def one(self, message_id: str) -> Incoming:
        found = await eventually(lambda: self.by_id(message_id), what=f"message {message_id}")
        return found[0]  # type: ignore[no-any-return]


@pytest.fixture
async def connected(
    gateway: Gateway, tmp_path: Path
) -> AsyncIterator[tuple[WechatyChannel, Recorder, Gateway]]:
    channel = make_channel(gateway, tmp_path / "media")
    recorder = Recorder()
    await channel.start(recorder.on_message, recorder.on_room_event)
    assert channel.connected, gateway.log_tail()
    yield channel, recorder, gateway
    await asyncio.wait_for(channel.stop(), 60)


async def test_a_residents_room_message_arrives_with_ids_topic_sender_and_mentions(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, recorder, gateway = connected
    assert channel.self_id == BOT_ID

    message_id = await gateway.say(ZHANG, "3号楼电梯又坏了，困了一个人！", room=ROOM_3)
    mentioning_id = await gateway.say(
        LI, "@红管家 @王红管 楼道灯不亮", room=ROOM_3, mentions=(BOT_ID, STEWARD)
    )

    message = await recorder.one(message_id)
    assert message.room_id == ROOM_3
    assert message.room_topic == TOPIC_3
    assert message.sender_id == ZHANG
    assert message.sender_name == "张阿姨"
    assert message.text == "3号楼电梯又坏了，困了一个人！"
    assert message.kind == "text"
    assert message.mentions == ()
    assert not message.mentions_self
    assert message.time.tzinfo is UTC
    assert abs(message.time - datetime.now(UTC)) < timedelta(minutes=1)

    mentioning = await recorder.one(mentioning_id)
    assert mentioning.mentions == (BOT_ID, STEWARD)
    assert mentioning.mentions_self
    assert mentioning.sender_name == "李大爷"


async def test_a_private_message_reaches_the_bot(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    _, recorder, gateway = connected
    message_id = await gateway.say(LI, "我家水管漏水了，能派人来看看吗")
    message = await recorder.one(message_id)
    assert message.is_private
    assert message.room_topic is None
    assert message.sender_id == LI
    assert message.text == "我家水管漏水了，能派人来看看吗"


async def test_a_quoted_reply_arrives_with_its_quote_apart(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    _, recorder, gateway = connected
    text = "「张阿姨：3号楼电梯坏了」\n- - - - - - - - - - - - - - -\n我家这边也停了"
    message = await recorder.one(await gateway.say(LI, text, room=ROOM_3))
    assert message.text == "我家这边也停了"
    assert message.quoted_text == "张阿姨：3号楼电梯坏了"


async def test_an_image_is_downloaded_into_the_media_dir(
    connected: tuple[WechatyChannel, Recorder, Gateway], tmp_path: Path
) -> None:
    _, recorder, gateway = connected
    message = await recorder.one(await gateway.image(ZHANG, room=ROOM_3))
    assert message.kind == "image"
    assert message.media_path is not None
    assert message.media_path.parent == tmp_path / "media"
    assert message.media_path.read_bytes().startswith(b"\x89PNG")


async def test_a_room_text_with_mentions_lands_in_the_room_with_the_mention_ids(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, _, gateway = connected
    sent_id = await channel.send(
        Outgoing(text="已收到，工单 #1001【设施维修】", room_id=ROOM_3, mentions=(ZHANG, STEWARD))
    )
    sent = await gateway.sent()
    assert [s["id"] for s in sent] == [sent_id]
    assert sent[0]["roomId"] == ROOM_3
    assert sent[0]["mentionIds"] == [ZHANG, STEWARD]
    # WeChat shows a mention as "@name" in the text; the adapter writes it like WeChat does
    assert sent[0]["text"] == "@张阿姨\u2005@王红管\u2005已收到，工单 #1001【设施维修】"


async def test_a_mention_already_written_in_the_text_is_not_doubled(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, _, gateway = connected
    await channel.send(Outgoing(text="@王红管 请跟进", room_id=ROOM_1, mentions=(STEWARD,)))
    (sent,) = await gateway.sent()
    assert sent["text"] == "@王红管 请跟进"
    assert sent["mentionIds"] == [STEWARD]


async def test_a_mention_of_someone_the_puppet_does_not_know_still_sends(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, _, gateway = connected
    sent_id = await channel.send(
        Outgoing(text="请孙管家协助", room_id=ROOM_3, mentions=("wxid_not_on_wechat", STEWARD))
    )
    (sent,) = await gateway.sent()
    assert sent["id"] == sent_id
    assert sent["text"] == "@王红管\u2005请孙管家协助"
    assert sent["mentionIds"] == ["wxid_not_on_wechat", STEWARD]


async def test_private_text_and_an_image_are_sent(
    connected: tuple[WechatyChannel, Recorder, Gateway], tmp_path: Path
) -> None:
    channel, recorder, gateway = connected
    chart = await recorder.one(await gateway.image(ZHANG, room=ROOM_3))
    assert chart.media_path is not None

    text_id = await channel.send(Outgoing(text="您的工单已办结，请评价", person_id=LI))
    image_id = await channel.send(Outgoing(text="", room_id=ROOM_1, image_path=chart.media_path))

    sent = {s["id"]: s for s in await gateway.sent()}
    assert sent[text_id] | {"id": None} == {
        "id": None,
        "conversationId": LI,
        "roomId": None,
        "toId": LI,
        "text": "您的工单已办结，请评价",
        "mentionIds": [],
        "kind": "text",
        "fileName": None,
    }
    assert sent[image_id]["kind"] == "file"
    assert sent[image_id]["roomId"] == ROOM_1
    assert sent[image_id]["fileName"] == chart.media_path.name


async def test_the_bots_own_messages_are_not_delivered(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, recorder, gateway = connected
    own_id = await channel.send(Outgoing(text="温馨提示：明天停水", room_id=ROOM_3))
    after_id = await gateway.say(ZHANG, "知道了", room=ROOM_3)
    await recorder.one(after_id)  # events are handled in order: ours came before this one
    assert own_id
    assert recorder.by_id(own_id) == []
    assert all(m.sender_id != BOT_ID for m in recorder.messages)


async def test_a_replayed_message_arrives_again_with_the_same_id(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    _, recorder, gateway = connected
    message_id = await gateway.say(ZHANG, "垃圾三天没人收了", room=ROOM_3)
    await recorder.one(message_id)
    await gateway.replay(message_id)
    replayed = await eventually(lambda: len(recorder.by_id(message_id)) == 2, what="replay")
    assert replayed
    first, again = recorder.by_id(message_id)
    assert again == first  # same id, same content: the storage de-duplicates by id


async def test_topic_changes_and_joining_a_room_become_room_events(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, recorder, gateway = connected
    await gateway.post("/topic", {"room": ROOM_1, "topic": "阳光花园1号楼邻里群", "by": LI})
    topic = await eventually(lambda: recorder.room_events, what="topic event")
    assert topic[0].kind == "topic"
    assert topic[0].room_id == ROOM_1
    assert topic[0].topic == "阳光花园1号楼邻里群"
    assert topic[0].old_topic == TOPIC_1

    # a resident joining is not the bot joining
    await gateway.post("/join", {"room": ROOM_1, "invitees": [ZHANG], "by": LI})
    await gateway.post("/join", {"room": ROOM_1, "invitees": [GRID, BOT_ID], "by": STEWARD})
    events = await eventually(lambda: recorder.room_events[1:], what="join event")
    assert [(e.kind, e.room_id) for e in events] == [("join", ROOM_1)]

    # the renamed room keeps its id, and later messages carry the new topic
    message = await recorder.one(await gateway.say(LI, "新群名不错", room=ROOM_1))
    assert message.room_topic == "阳光花园1号楼邻里群"
    assert (await channel.room_topics())[ROOM_1] == "阳光花园1号楼邻里群"


async def test_room_topics_lists_the_bots_rooms(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, _, _ = connected
    assert await channel.room_topics() == {ROOM_3: TOPIC_3, ROOM_1: TOPIC_1, NEW_ROOM: NEW_TOPIC}


async def test_the_channel_reconnects_after_the_gateway_is_killed_and_restarted(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, recorder, gateway = connected
    await recorder.one(await gateway.say(ZHANG, "第一条", room=ROOM_3))

    await gateway.kill()
    await eventually(lambda: not channel.connected, what="the channel to notice")
    with pytest.raises(ChannelError):
        await channel.send(Outgoing(text="断线时发送", room_id=ROOM_3))

    await gateway.start()
    assert await channel.wait_connected(20), gateway.log_tail()
    message = await recorder.one(await gateway.say(ZHANG, "重启以后", room=ROOM_3))
    assert message.room_topic == TOPIC_3
    sent_id = await channel.send(Outgoing(text="恢复正常", room_id=ROOM_3, mentions=(ZHANG,)))
    assert [s["id"] for s in await gateway.sent()] == [sent_id]


async def test_the_channel_reconnects_when_the_gateway_stops_and_starts_serving(
    connected: tuple[WechatyChannel, Recorder, Gateway],
) -> None:
    channel, recorder, gateway = connected
    await gateway.post("/server/stop", {})
    await eventually(lambda: not channel.connected, what="the channel to notice")
    await gateway.post("/server/start", {})
    assert await channel.wait_connected(20), gateway.log_tail()
    message_id = await gateway.say(LI, "又连上了", room=ROOM_1)
    assert (await recorder.one(message_id)).room_topic == TOPIC_1


async def test_a_running_message_handler_is_not_cut_off_when_the_connection_drops(
    gateway: Gateway, tmp_path: Path
) -> None:
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def slow_handler(message: Incoming) -> None:
        started.append(message.message_id)
        await release.wait()  # the bot's work (database, replies) takes its time
        finished.append(message.message_id)

    async def no_room_events(event: RoomEvent) -> None:
        pass

    channel = make_channel(gateway, tmp_path / "media")
    await channel.start(slow_handler, no_room_events)
    try:
        message_id = await gateway.say(ZHANG, "电梯困人了", room=ROOM_3)
        await eventually(lambda: started, what="the handler to start")
        await gateway.kill()
        await eventually(lambda: not channel.connected, what="the channel to notice")
        release.set()
        await eventually(lambda: finished, what="the handler to finish")
        assert finished == [message_id]
        await gateway.start()
        assert await channel.wait_connected(20), gateway.log_tail()
    finally:
        await channel.stop()


async def test_a_gateway_that_stops_answering_is_detected_by_the_probe(
    gateway: Gateway, tmp_path: Path
) -> None:
    # a frozen peer keeps the TCP connection open: no stream end, only the probe notices
    channel = make_channel(gateway, tmp_path / "media", rpc_timeout=1.0, login_timeout=3.0)
    recorder = Recorder()
    await channel.start(recorder.on_message, recorder.on_room_event)
    try:
        assert channel.connected
        gateway.freeze()
        try:
            await eventually(lambda: not channel.connected, within=10, what="the probe")
        finally:
            gateway.thaw()
        assert await channel.wait_connected(20), gateway.log_tail()
        message_id = await gateway.say(ZHANG, "解冻了", room=ROOM_3)
        assert (await recorder.one(message_id)).text == "解冻了"
    finally:
        await channel.stop()


async def test_a_puppet_waiting_for_a_qr_scan_is_waited_for_not_restarted(
    gateway_dir: Path, tmp_path: Path
) -> None:
    gateway = Gateway(tmp_path / "gateway.log", tls=False, login_by_scan=True)
    await gateway.start()
    channel = make_channel(gateway, tmp_path / "media", login_timeout=0.5)
    recorder = Recorder()
    try:
        await channel.start(recorder.on_message, recorder.on_room_event)
        assert not channel.connected
        starts = (await gateway.get("/health"))["starts"]
        await asyncio.sleep(2)  # several login timeouts pass while nobody scans
        assert not channel.connected
        # the puppet was not restarted (a restart would show a new QR code each time)
        assert (await gateway.get("/health"))["starts"] == starts
        await gateway.post("/login", {})
        assert await channel.wait_connected(10), gateway.log_tail()
        assert channel.self_id == BOT_ID
        message_id = await gateway.say(ZHANG, "扫码以后", room=ROOM_3)
        assert (await recorder.one(message_id)).text == "扫码以后"
    finally:
        await channel.stop()
        await gateway.close()


async def test_tls_works_against_the_gateways_default_certificate(
    tls_gateway: Gateway, tmp_path: Path
) -> None:
    ca_file = tmp_path / "wechaty-root-ca.pem"
    ca_file.write_text(wechaty_root_ca(), encoding="utf-8")
    channel = make_channel(tls_gateway, tmp_path / "media", insecure=False, ca_file=ca_file)
    recorder = Recorder()
    await channel.start(recorder.on_message, recorder.on_room_event)
    try:
        assert channel.connected, tls_gateway.log_tail()
        message = await recorder.one(await tls_gateway.say(ZHANG, "TLS 下也能收到", room=ROOM_3))
        assert message.text == "TLS 下也能收到"
        assert await channel.send(Outgoing(text="TLS 回复", room_id=ROOM_3))
    finally:
        await channel.stop()


async def test_tls_refuses_a_gateway_the_ca_does_not_vouch_for(
    tls_gateway: Gateway, tmp_path: Path
) -> None:
    # the system trust store does not know the Wechaty root CA: no connection, no login
    channel = make_channel(tls_gateway, tmp_path / "media", insecure=False, login_timeout=2.0)
    recorder = Recorder()
    await channel.start(recorder.on_message, recorder.on_room_event)
    try:
        assert not channel.connected
    finally:
        await channel.stop()
