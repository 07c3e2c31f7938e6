"""The JSON API: tickets and their logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from bot.app import BOT
from storage.media import attachments_of
from storage.models import TICKET_STATUSES, Attachment, Ticket
from storage.tickets import ticket_events

TicketScope = Callable[[web.Request], list[ColumnElement[bool]]]
# set by the dashboard: the conditions limiting tickets to the signed-in user's area
TICKET_SCOPE: web.AppKey[TicketScope] = web.AppKey("ticket_scope")


def ticket_scope(request: web.Request) -> list[ColumnElement[bool]]:
    """SQL conditions limiting tickets to what this request may see (none: all)."""
    scope = request.app.get(TICKET_SCOPE)
    return scope(request) if scope is not None else []


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 with a JSON message."""
    return web.HTTPBadRequest(
        text=web.json_response({"error": message}).text, content_type="application/json"
    )


def ticket_json(t: Ticket, labels: dict[str, str]) -> dict[str, Any]:
    """A ticket as the API shows it."""

    def iso(d: Any) -> str | None:
        return d.isoformat() if d is not None else None

    return {
        "number": t.number,
        "category": t.category,
        "category_label": labels.get(t.category, t.category),
        "urgent": t.urgent,
        "major": t.major,
        "summary": t.summary,
        "location": t.location,
        "building_id": t.building_id,
        "room_id": t.room_id,
        "reporter_id": t.reporter_id,
        "assignee_id": t.assignee_id,
        "status": t.status,
        "rung": t.rung,
        "reporters": t.reporters_count,
        "source": t.source,
        "created_at": iso(t.created_at),
        "first_response_at": iso(t.first_response_at),
        "plan_at": iso(t.plan_at),
        "reply_at": iso(t.reply_at),
        "resolved_at": iso(t.resolved_at),
        "closed_at": iso(t.closed_at),
        "cancelled_at": iso(t.cancelled_at),
        "next_deadline_at": iso(t.next_deadline_at),
        "next_deadline_kind": t.next_deadline_kind,
        "rating": t.rating,
    }


async def list_tickets(request: web.Request) -> web.Response:
    """GET /api/tickets?status=&building=&category=&limit="""
    bot = request.app[BOT]
    status = request.query.get("status")
    category = request.query.get("category")
    building = request.query.get("building")
    if status and status not in TICKET_STATUSES:
        raise bad_request(f"unknown status {status!r}; one of {', '.join(TICKET_STATUSES)}")
    labels = bot.services.classifier.categories
    if category and category not in labels:
        raise bad_request(f"unknown category {category!r}")
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "200"))))
    except ValueError:
        raise bad_request("limit must be a whole number") from None
    building_id: int | None = None
    if building:
        d = bot.services.directory.current
        found = [b.id for b in d.buildings.values() if building in (str(b.id), b.label, b.name)]
        if not found:
            raise bad_request(f"unknown building {building!r}")
        building_id = found[0]

    scope = ticket_scope(request)

    def query(session: Session) -> list[Ticket]:
        q = select(Ticket).where(*scope)
        if status:
            q = q.where(Ticket.status == status)
        if category:
            q = q.where(Ticket.category == category)
        if building_id is not None:
            q = q.where(Ticket.building_id == building_id)
        return list(session.exec(q.order_by(col(Ticket.number).desc()).limit(limit)))

    rows = await bot.services.db.run(query)
    return web.json_response({"tickets": [ticket_json(t, labels) for t in rows]})


async def get_ticket(request: web.Request) -> web.Response:
    """GET /api/tickets/{number}: the ticket with its event log."""
    bot = request.app[BOT]
    raw = request.match_info["number"].lstrip("#")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # "²".isdigit() is True
        raise bad_request("a ticket number is a whole number")
    number = int(raw)

    scope = ticket_scope(request)

    def query(session: Session) -> tuple[Ticket, list[Any], list[Attachment]] | None:
        t = session.exec(select(Ticket).where(Ticket.number == number, *scope)).first()
        if t is None:
            return None
        assert t.id is not None
        return t, ticket_events(session, t.id), attachments_of(session, t.id)

    found = await bot.services.db.run(query)
    if found is None:
        raise web.HTTPNotFound(
            text=web.json_response({"error": f"no ticket {number}"}).text,
            content_type="application/json",
        )
    t, events, photos = found
    data = ticket_json(t, bot.services.classifier.categories)
    data["events"] = [
        {
            "kind": e.kind,
            "actor_id": e.actor_id,
            "time": e.time.isoformat(),
            "message_id": e.message_id,
            "detail": e.detail,
            "data": e.data,
        }
        for e in events
    ]
    data["photos"] = [
        {
            "url": f"/media/{a.file_name}",
            "role": a.role,
            "time": a.time.isoformat(),
            "size": a.size,
            "mime": a.mime,
            "by_reporter": a.person_id == t.reporter_id,
        }
        for a in photos
    ]
    return web.json_response(data)


def setup(app: web.Application) -> None:
    """Register the API routes."""
    app.router.add_get("/api/tickets", list_tickets)
    app.router.add_get("/api/tickets/{number}", get_ticket)
