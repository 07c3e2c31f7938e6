"""The web dashboard for the offices, the spreadsheet downloads and the open API (Open311)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import ColumnElement

from bot.api import TICKET_SCOPE
from bot.app import BOT
from bot.web import auth, directory_views, open311, openapi, views
from bot.web.auth import Handler, current_viewer


@web.middleware
async def api_needs_sign_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the simulator the ticket JSON API is for signed-in users of the dashboard."""
    if (
        request.path.startswith("/api/tickets")
        and request.app[BOT].sim is None
        and current_viewer(request) is None
    ):
        return web.json_response({"error": "sign in to the dashboard first"}, status=401)
    return await handler(request)


def _signed_in_scope(request: web.Request) -> list[ColumnElement[bool]]:
    """The JSON API shows a signed-in user their area only."""
    v = current_viewer(request)
    return v.ticket_scope() if v is not None else []


def setup(app: web.Application) -> None:
    """Register the dashboard, the downloads, Open311 and the OpenAPI document."""
    auth.setup(app)
    app[TICKET_SCOPE] = _signed_in_scope
    app.middlewares.append(api_needs_sign_in)
    views.setup(app)
    directory_views.setup(app)
    open311.setup(app)
    openapi.setup(app)
