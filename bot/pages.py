"""The web pages: the overview of tickets (the full dashboard grows from here)."""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.app import BOT, JINJA
from storage.models import Ticket


async def index(request: web.Request) -> web.Response:
    """GET /: open tickets and the latest ones, per building."""
    bot = request.app[BOT]
    d = bot.services.directory.current

    def query(session: Session) -> tuple[list[Ticket], dict[str, int]]:
        latest = list(session.exec(select(Ticket).order_by(col(Ticket.id).desc()).limit(50)))
        counts = Tally(session.exec(select(Ticket.status)).all())
        return latest, dict(counts)

    latest, counts = await bot.services.db.run(query)
    labels = bot.services.classifier.categories
    rows: list[dict[str, Any]] = []
    for t in latest:
        b = d.buildings.get(t.building_id) if t.building_id else None
        rows.append(
            {
                "number": t.number,
                "category": labels.get(t.category, t.category),
                "urgent": t.urgent,
                "building": b.label if b else "—",
                "status": t.status,
                "summary": t.summary,
                "created": bot.services.local(t.created_at).strftime("%m-%d %H:%M"),
            }
        )
    html = (
        request.app[JINJA]
        .get_template("index.html")
        .render(
            bot_name=bot.services.settings.bot.name,
            counts=counts,
            tickets=rows,
            sim=bot.sim is not None,
        )
    )
    return web.Response(text=html, content_type="text/html")


def setup(app: web.Application) -> None:
    """Register the pages."""
    app.router.add_get("/", index)
