"""GET /media/<sha256>.<ext>: the photos the bot keeps (signed-in users; anyone in the simulator)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.app import BOT, SETTINGS
from storage.media import MIME, media_path


async def get_media(request: web.Request) -> web.StreamResponse:
    """One kept photo, by its content-hash name."""
    from bot.web.auth import current_viewer

    if request.app[BOT].sim is None and current_viewer(request) is None:
        raise web.HTTPUnauthorized(text="sign in to the dashboard first")
    settings = request.app[SETTINGS]
    p = media_path(Path(settings.bot.media_dir), request.match_info["name"])
    if p is None:
        raise web.HTTPNotFound()
    ext = p.suffix.lstrip(".")
    mime = MIME["jpeg" if ext == "jpg" else ext]
    return web.FileResponse(
        p, headers={"Content-Type": mime, "Cache-Control": "private, max-age=86400"}
    )


def setup(app: web.Application) -> None:
    """Register the media route."""
    app.router.add_get("/media/{name}", get_media)
