"""The simulator's HTTP API and chat page (only in simulator mode)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from bot.app import BOT, JINJA
from bot.simulator import SimChannel
from storage.media import MediaRejected, check, media_name


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json"
    )


def _sim(request: web.Request) -> SimChannel:
    sim = request.app[BOT].sim
    assert sim is not None
    return sim


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


def _person(request: web.Request, name: str) -> str:
    """A display name to a chat id: known people keep theirs, others get a simulator id."""
    d = request.app[BOT].services.directory.current
    p = d.person_by_name(name)
    return p.id if p else f"sim_{name}"


async def post_message(request: web.Request) -> web.Response:
    """POST /api/sim/messages {room?, sender, text, mentions?, id?}: returns once handled.

    A given id makes the message a replay when that id was delivered before.
    """
    bot = request.app[BOT]
    sim = _sim(request)
    body = await _json_body(request)
    sender, text, room = body.get("sender"), body.get("text"), body.get("room")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 64:
        raise _error(web.HTTPBadRequest, "'sender' must be a display name (1-64 characters)")
    if not isinstance(text, str):
        raise _error(web.HTTPBadRequest, "'text' must be a string")
    room_id: str | None = None
    if room is not None:
        if not isinstance(room, str):
            raise _error(web.HTTPBadRequest, "'room' must be a room topic")
        room_id = sim.room_id_for(room)
        if room_id is None:
            raise _error(web.HTTPNotFound, f"no room {room!r}")
    message_id = body.get("id")
    if message_id is not None and (
        not isinstance(message_id, str) or not 1 <= len(message_id) <= 128
    ):
        raise _error(web.HTTPBadRequest, "'id' must be a message id (1-128 characters)")
    mention_names = body.get("mentions", [])
    if not isinstance(mention_names, list) or not all(isinstance(m, str) for m in mention_names):
        raise _error(web.HTTPBadRequest, "'mentions' must be a list of display names")
    bot_name = bot.services.settings.bot.name
    mentions = tuple(
        bot.services.settings.bot.self_id if m == bot_name else _person(request, m)
        for m in mention_names
    )
    if f"@{bot_name}" in text and bot.services.settings.bot.self_id not in mentions:
        mentions = (*mentions, bot.services.settings.bot.self_id)
    quote = body.get("quote")
    if quote is not None and not isinstance(quote, str):
        raise _error(web.HTTPBadRequest, "'quote' must be the quoted message's text")
    incoming = await sim.say(
        sender_id=_person(request, sender.strip()),
        sender_name=sender.strip(),
        text=text,
        room_id=room_id,
        mentions=mentions,
        quoted_text=quote,
        message_id=message_id,
    )
    await bot.timekeeper.tick()
    return web.json_response(
        {"id": incoming.message_id, "room": room, "time": incoming.time.isoformat()}
    )


async def post_image(request: web.Request) -> web.Response:
    """POST /api/sim/images: a photo posted by someone, as a channel would download it.

    multipart/form-data with fields room, sender, quote (optional) and file; or JSON
    {room, sender, quote?, data: base64}. Returns once handled, with the photo's URL.
    """
    bot = request.app[BOT]
    sim = _sim(request)
    fields: dict[str, str] = {}
    data: bytes | None = None
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                data = bytes(await part.read(decode=False))
            elif part.name:
                fields[part.name] = await part.text()
    else:
        body = await _json_body(request)
        for k in ("room", "sender", "quote"):
            if isinstance(body.get(k), str):
                fields[k] = body[k]
        raw = body.get("data")
        if not isinstance(raw, str):
            raise _error(web.HTTPBadRequest, "'data' must be the image in base64")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _error(web.HTTPBadRequest, "'data' is not valid base64") from None
    sender = fields.get("sender", "").strip()
    if not sender or len(sender) > 64:
        raise _error(web.HTTPBadRequest, "'sender' must be a display name (1-64 characters)")
    if data is None:
        raise _error(web.HTTPBadRequest, "give the image as 'file' (multipart) or 'data' (base64)")
    room_id: str | None = None
    if fields.get("room"):
        room_id = sim.room_id_for(fields["room"])
        if room_id is None:
            raise _error(web.HTTPNotFound, f"no room {fields['room']!r}")
    media = bot.services.settings.media
    try:
        url: str | None = "/media/" + media_name(
            data, check(data, media.max_bytes, list(media.types))
        )
    except MediaRejected:
        url = None  # the bot refuses it too; the transcript shows it without a link
    # like a channel's download: a file the bot then keeps by content hash
    incoming_dir = Path(bot.services.settings.bot.media_dir) / "incoming"
    incoming_dir.mkdir(parents=True, exist_ok=True)
    path = incoming_dir / f"sim-{uuid.uuid4().hex}"
    path.write_bytes(data)
    try:
        incoming = await sim.say(
            sender_id=_person(request, sender),
            sender_name=sender,
            text="[图片]",
            room_id=room_id,
            media_path=path,
            image_url=url,
            quoted_text=fields.get("quote") or None,
        )
    finally:
        path.unlink(missing_ok=True)
    await bot.timekeeper.tick()
    return web.json_response(
        {
            "id": incoming.message_id,
            "room": fields.get("room"),
            "image": url,
            "time": incoming.time.isoformat(),
        }
    )


async def get_messages(request: web.Request) -> web.Response:
    """GET /api/sim/messages?room=<topic> or ?person=<name>: the transcript."""
    sim = _sim(request)
    room, person = request.query.get("room"), request.query.get("person")
    if room:
        room_id = sim.room_id_for(room)
        if room_id is None:
            raise _error(web.HTTPNotFound, f"no room {room!r}")
        return web.json_response(
            {"room": sim.topics[room_id], "room_id": room_id, "messages": sim.transcript(room_id)}
        )
    if person:
        pid = _person(request, person)
        return web.json_response(
            {"person": person, "person_id": pid, "messages": sim.private_chat(pid)}
        )
    raise _error(web.HTTPBadRequest, "give ?room=<topic> or ?person=<display name>")


async def advance_clock(request: web.Request) -> web.Response:
    """POST /api/sim/clock {advance_minutes}: run everything due on the way, in order."""
    bot = request.app[BOT]
    body = await _json_body(request)
    minutes = body.get("advance_minutes")
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int | float)
        or not (0 <= minutes <= 60 * 24 * 400)
    ):
        raise _error(web.HTTPBadRequest, "'advance_minutes' must be a number from 0 to 576000")
    target = bot.services.clock.now() + timedelta(minutes=minutes)
    steps = await bot.timekeeper.advance_to(target)
    return web.json_response({"now": bot.services.clock.now().isoformat(), "steps": steps})


async def get_clock(request: web.Request) -> web.Response:
    """GET /api/sim/clock: the simulated time."""
    now = request.app[BOT].services.clock.now()
    local = request.app[BOT].services.local(now)
    return web.json_response({"now": now.isoformat(), "local": local.isoformat()})


async def sim_page(request: web.Request) -> web.Response:
    """GET /sim: a chat page to talk to the bot as anyone in any room."""
    bot = request.app[BOT]
    sim = _sim(request)
    people = [p.name for p in bot.services.directory.current.people.values()]
    html = (
        request.app[JINJA]
        .get_template("sim.html")
        .render(
            bot_name=bot.services.settings.bot.name,
            rooms=list(sim.topics.values()),
            sim=True,
            people=["张阿姨", "李大爷", "小刘", *people],
        )
    )
    return web.Response(text=html, content_type="text/html")


def setup(app: web.Application) -> None:
    """Register the simulator's routes."""
    app.router.add_post("/api/sim/messages", post_message)
    app.router.add_get("/api/sim/messages", get_messages)
    app.router.add_post("/api/sim/images", post_image)
    app.router.add_post("/api/sim/clock", advance_clock)
    app.router.add_get("/api/sim/clock", get_clock)
    app.router.add_get("/sim", sim_page)
