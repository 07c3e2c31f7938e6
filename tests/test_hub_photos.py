"""Photos: kept by content hash, type and size checked, attached to the ticket they show."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from sqlmodel import select

from config.schema import MediaConfig
from storage.models import Attachment, Message
from tests.clock_helpers import quiet_settings
from tests.harness import Harness, running_bot

ROOM3 = "阳光花园3号楼业主群"


def png(tag: bytes) -> bytes:
    """Bytes that start like a PNG (the type check reads the magic bytes only)."""
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + tag * 16


def jpeg(tag: bytes) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + tag * 16


@pytest.fixture
async def ph(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo bot with its media under tmp and a small size limit."""
    settings = quiet_settings(tmp_path, media=MediaConfig(max_bytes=4096, window_minutes=30))
    async with running_bot(sqlite_url, settings) as h:
        yield h


async def post_image(
    h: Harness, room: str | None, sender: str, data: bytes, *, quote: str | None = None
) -> dict[str, Any]:
    form = FormData()
    if room is not None:
        form.add_field("room", room)
    form.add_field("sender", sender)
    if quote is not None:
        form.add_field("quote", quote)
    form.add_field("file", data, filename="photo.bin", content_type="application/octet-stream")
    r = await h.client.post("/api/sim/images", data=form)
    assert r.status == 200, await r.text()
    return dict(await r.json())


def attachments(session: Any) -> list[tuple[str, int | None, str | None, str]]:
    return [
        (a.file_name, a.ticket_id, a.role, a.person_id)
        for a in session.exec(select(Attachment).order_by(Attachment.id))
    ]


def name_of(data: bytes, ext: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


async def test_a_photo_after_the_complaint_is_attached_and_served(
    ph: Harness, tmp_path: Path
) -> None:
    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
    photo = png(b"a")
    out = await post_image(h, ROOM3, "张阿姨", photo)
    name = name_of(photo, "png")
    assert out["image"] == f"/media/{name}"
    assert (await h.bot_lines(ROOM3))[-1] == "@张阿姨\u2005已将照片附到工单 #1001。"
    assert (tmp_path / "media" / name).read_bytes() == photo
    # the transcript carries the URL, the app serves it
    entry = [m for m in await h.room(ROOM3) if not m["from_bot"]][-1]
    assert entry["image"] == f"/media/{name}"
    r = await h.client.get(f"/media/{name}")
    assert r.status == 200 and r.content_type == "image/png" and await r.read() == photo
    assert (await h.client.get("/media/../bot.db")).status == 404
    ticket = await h.ticket(1001)
    assert [(p["url"], p["role"], p["by_reporter"]) for p in ticket["photos"]] == [
        (f"/media/{name}", "evidence", True)
    ]
    assert ticket["events"][-1]["kind"] == "photo"

    def stored(session: Any) -> list[tuple[str, str | None]]:
        return [(m.kind, m.media_path) for m in session.exec(select(Message)) if m.kind == "image"]

    rows = await h.db.run(stored)
    assert len(rows) == 1 and rows[0][1] is not None


async def test_a_photo_just_before_the_complaint_joins_it_when_it_comes(ph: Harness) -> None:
    h = ph
    photo = jpeg(b"b")
    await post_image(h, ROOM3, "张阿姨", photo)
    assert await h.bot_lines(ROOM3) == []  # a photo alone is kept quietly
    await h.advance(10)
    await h.say(ROOM3, "张阿姨", "#报修 楼道里的消防栓漏水了")
    rows = await h.db.run(attachments)
    assert [(n, r) for n, _, r, _ in rows] == [(name_of(photo, "jpg"), "evidence")]
    assert rows[0][1] is not None
    assert [p["role"] for p in (await h.ticket(1001))["photos"]] == ["evidence"]


async def test_outside_the_window_a_photo_stays_unattached_unless_it_quotes_the_ticket(
    ph: Harness,
) -> None:
    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼电梯异响")
    await h.advance(45)
    await post_image(h, ROOM3, "张阿姨", png(b"c"))
    await post_image(h, ROOM3, "李大爷", png(b"d"), quote="工单 #1001【电梯】…")  # not his
    await post_image(h, ROOM3, "张阿姨", png(b"e"), quote="已收到您的反映，工单 #1001【电梯】")
    rows = await h.db.run(attachments)
    assert [(t is not None, r) for _, t, r, _ in rows] == [
        (False, None),
        (False, None),
        (True, "evidence"),
    ]
    assert (await h.bot_lines(ROOM3))[-1] == "@张阿姨\u2005已将照片附到工单 #1001。"


async def test_a_stewards_photo_after_resolving_is_the_proof(ph: Harness) -> None:
    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "#办结 1001 已更换灯泡")
    await post_image(h, ROOM3, "王红管", jpeg(b"f"))
    assert (await h.bot_lines(ROOM3))[-1] == "@王红管\u2005已将照片作为工单 #1001 的整改凭证存档。"
    assert [p["role"] for p in (await h.ticket(1001))["photos"]] == ["proof"]


async def test_the_same_photo_twice_is_one_file(ph: Harness, tmp_path: Path) -> None:
    h = ph
    photo = png(b"g")
    await post_image(h, ROOM3, "张阿姨", photo)
    await post_image(h, "阳光花园1号楼业主群", "李大爷", photo)
    files = [p.name for p in (tmp_path / "media").iterdir() if p.is_file()]
    assert files == [name_of(photo, "png")]
    assert len(await h.db.run(attachments)) == 2


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4 not a photo" * 4, b"\xff\xd8\xff" + b"x" * 5000, b"<svg></svg>"],
    ids=["pdf", "too-large", "svg"],
)
async def test_not_a_photo_or_too_large_is_not_kept(
    ph: Harness, tmp_path: Path, data: bytes
) -> None:
    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼电梯坏了")
    seen = len(await h.bot_lines(ROOM3))
    out = await post_image(h, ROOM3, "张阿姨", data)
    assert out["image"] is None
    assert await h.db.run(attachments) == []
    assert len(await h.bot_lines(ROOM3)) == seen
    assert not any(p.is_file() for p in (tmp_path / "media").glob("*"))


async def test_json_base64_upload(ph: Harness) -> None:
    h = ph
    photo = png(b"h")
    r = await h.client.post(
        "/api/sim/images",
        json={"room": ROOM3, "sender": "张阿姨", "data": base64.b64encode(photo).decode()},
    )
    assert r.status == 200
    assert (await r.json())["image"] == f"/media/{name_of(photo, 'png')}"
    bad = await h.client.post("/api/sim/images", json={"room": ROOM3, "sender": "x", "data": "%%"})
    assert bad.status == 400
    nowhere = await h.client.post(
        "/api/sim/images", json={"room": "无此群", "sender": "x", "data": ""}
    )
    assert nowhere.status == 404


async def test_the_monthly_ledger_lists_a_tickets_photos(ph: Harness) -> None:
    import functools

    from bot.report import collect

    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
    before = png(b"i")
    await post_image(h, ROOM3, "张阿姨", before)
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "#办结 1001 已更换灯泡")
    after = jpeg(b"j")
    await post_image(h, ROOM3, "王红管", after)
    s = h.bot.services
    data = await h.db.run(
        functools.partial(collect, community_id=None),
        s.settings,
        s.directory.current,
        s.classifier.categories,
        2026,
        11,
    )
    from bot.report import LEDGER_HEAD

    row = dict(zip(LEDGER_HEAD, data.ledger[0], strict=True))
    assert row["照片"] == (
        f"现场照片 /media/{name_of(before, 'png')}\n整改凭证 /media/{name_of(after, 'jpg')}"
    )


async def test_an_image_the_way_the_wechaty_adapter_delivers_it(
    ph: Harness, tmp_path: Path
) -> None:
    from bot.channel import Incoming

    h = ph
    await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
    download = tmp_path / "puppet-download.jpg"
    photo = jpeg(b"k")
    download.write_bytes(photo)
    await h.bot.dispatcher.handle(
        Incoming(
            message_id="wx-msg-1",
            sender_id="sim_张阿姨",
            sender_name="张阿姨",
            text="",
            time=h.bot.services.clock.now(),
            room_id="room-yg-3",
            room_topic=ROOM3,
            kind="image",
            media_path=download,
        )
    )
    assert [p["url"] for p in (await h.ticket(1001))["photos"]] == [
        f"/media/{name_of(photo, 'jpg')}"
    ]


async def test_an_image_left_unhandled_by_a_crash_is_attached_at_the_next_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    from datetime import timedelta

    from storage.tickets import store_message
    from tests.harness import START

    settings = quiet_settings(tmp_path)
    download = tmp_path / "puppet-download.png"
    photo = png(b"l")
    download.write_bytes(photo)
    async with running_bot(sqlite_url, settings) as h:
        await h.say(ROOM3, "张阿姨", "#报修 3号楼2单元楼道灯坏了")
        now = START + timedelta(minutes=1)
        # stored by the dispatcher, then the process died before handling it
        await h.db.run(
            lambda s: store_message(
                s,
                channel_message_id="wx-msg-2",
                room_id="room-yg-3",
                sender_id="sim_张阿姨",
                sender_name="张阿姨",
                text="",
                time=now,
                now=now,
                kind="image",
                media_path=str(download),
            )
        )
    async with running_bot(sqlite_url, settings, START + timedelta(minutes=2)) as h:
        assert [p["url"] for p in (await h.ticket(1001))["photos"]] == [
            f"/media/{name_of(photo, 'png')}"
        ]
