"""The simulator's HTTP API and chat page (only in simulator mode)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.app import BOT, JINJA
from bot.simulator import SimChannel


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
    incoming = await sim.say(
        sender_id=_person(request, sender.strip()),
        sender_name=sender.strip(),
        text=text,
        room_id=room_id,
        mentions=mentions,
        message_id=message_id,
    )
    await bot.timekeeper.tick()
    return web.json_response(
        {"id": incoming.message_id, "room": room, "time": incoming.time.isoformat()}
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
    app.router.add_post("/api/sim/clock", advance_clock)
    app.router.add_get("/api/sim/clock", get_clock)
    app.router.add_get("/sim", sim_page)
