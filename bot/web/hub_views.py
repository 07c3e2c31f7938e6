"""The hub on the dashboard: notices (form, preview, 确认, archive) and votes (list, export)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session, col, func, select

from bot.jobs.common import send_all
from bot.vote_export import collect, write_vote_workbook
from bot.web.auth import Viewer, require_viewer
from bot.web.common import bad_input, refused, render, services_of
from handlers.broadcast import confirm_notice, draft, group_text
from handlers.errors import DomainError
from handlers.scope import SPEAKING_ROLES, short_local
from storage.models import Ballot, Notice, NoticeDelivery, Vote

NOTICE_STATUS = {
    "draft": "待确认",
    "scheduled": "定时待发",
    "sending": "发送中",
    "done": "已发送",
    "cancelled": "已取消",
    "expired": "未确认已失效",
}


def _may_notify(v: Viewer) -> bool:
    return v.is_admin or bool(v.roles & SPEAKING_ROLES)


def _sees_rooms(request: web.Request, v: Viewer, rooms: list[str]) -> bool:
    d = services_of(request).directory.current
    return v.is_admin or any(
        (b := d.building_of_room(r)) is not None and v.sees_building(b.id) for r in rooms
    )


async def hub_page(request: web.Request) -> web.Response:
    """GET /hub: the notice form, the notices and votes of the viewer's area."""
    v = require_viewer(request)
    s = services_of(request)

    def query(session: Session) -> tuple[list[Notice], list[tuple[Vote, int]]]:
        notices = list(session.exec(select(Notice).order_by(col(Notice.id).desc()).limit(200)))
        votes = []
        for vote in session.exec(select(Vote).order_by(col(Vote.id).desc()).limit(200)):
            n = session.exec(select(func.count()).where(Ballot.vote_id == vote.id)).one()
            votes.append((vote, int(n)))
        return notices, votes

    notices, votes = await s.db.run(query)
    d = s.directory.current
    names = {p.id: p.name for p in d.people.values()}
    rows = [
        {
            "id": n.id,
            "sender": names.get(n.sender_id, n.sender_id),
            "scope": n.scope,
            "groups": len(n.rooms),
            "text": n.text,
            "status": NOTICE_STATUS.get(n.status, n.status),
            "when": short_local(s, n.send_at or n.sent_at or n.created_at),
            "reached": n.reached,
        }
        for n in notices
        if n.sender_id == v.id or _sees_rooms(request, v, n.rooms)
    ]
    vote_rows = [
        {
            "id": vote.id,
            "title": vote.title,
            "scope": vote.scope,
            "deadline": short_local(s, vote.deadline),
            "status": "已截止" if vote.status == "closed" else "进行中",
            "voted": n,
            "verdict": (vote.result or {}).get("verdict", ""),
        }
        for vote, n in votes
        if v.is_admin or any(v.sees_building(b) for b in vote.building_ids)
    ]
    return render(
        request,
        "hub.html",
        active="hub",
        notices=rows,
        votes=vote_rows,
        may_notify=_may_notify(v),
        templates=[t.name for t in s.settings.broadcast.templates],
        message=request.query.get("done", ""),
    )


async def notice_submit(request: web.Request) -> web.Response:
    """POST /hub/notices (范围, 内容, 定时): a draft, shown for confirmation."""
    v = require_viewer(request)
    if not _may_notify(v):
        raise refused("只有红色管家、网格员、社区书记、街道干部、区县干部和管理员可以群发通知。")
    s = services_of(request)
    form = await request.post()
    scope, body, when = (str(form.get(k, "")).strip() for k in ("scope", "text", "when"))
    if not scope or not body:
        raise bad_input("请填写范围和内容")
    if when:
        body = f"{body} 于 {when}"
    now = s.clock.now()
    try:
        notice = draft(s, v.id, scope, body, now)
    except DomainError as e:
        raise bad_input(e.reply) from None

    def store(session: Session) -> int:
        session.add(notice)
        session.flush()
        assert notice.id is not None
        return notice.id

    nid = await s.db.run(store)
    raise web.HTTPFound(f"/hub/notices/{nid}")


async def _own_notice(request: web.Request) -> tuple[Viewer, int]:
    v = require_viewer(request)
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_input("通知编号应为数字")
    return v, int(raw)


async def notice_page(request: web.Request) -> web.Response:
    """GET /hub/notices/{id}: a notice with its per-group delivery (and 确认 for a draft)."""
    v, nid = await _own_notice(request)
    s = services_of(request)

    def query(session: Session) -> tuple[Notice, list[NoticeDelivery]] | None:
        n = session.get(Notice, nid)
        if n is None:
            return None
        rows = list(session.exec(select(NoticeDelivery).where(NoticeDelivery.notice_id == nid)))
        return n, rows

    found = await s.db.run(query)
    if found is None:
        raise web.HTTPNotFound(text=f"没有通知 #{nid}", content_type="text/plain")
    n, rows = found
    if n.sender_id != v.id and not _sees_rooms(request, v, n.rooms):
        raise refused()
    topics = s.directory.current.rooms
    return render(
        request,
        "hub_notice.html",
        active="hub",
        n={
            "id": n.id,
            "scope": n.scope,
            "groups": [topics.get(r, (r, None))[0] for r in n.rooms],
            "text": group_text(n.text),
            "status": NOTICE_STATUS.get(n.status, n.status),
            "draft": n.status == "draft" and n.sender_id == v.id,
            "cancellable": n.status in ("draft", "scheduled") and n.sender_id == v.id,
            "send_at": short_local(s, n.send_at) if n.send_at else "",
        },
        deliveries=[
            {
                "room": topics.get(d.room_id, (d.room_id, None))[0],
                "status": {"sent": "已送达", "failed": "未送达", "pending": "发送中"}[d.status],
                "attempts": d.attempts,
                "error": d.error or "",
            }
            for d in sorted(rows, key=lambda d: d.room_id)
        ],
    )


async def notice_action(request: web.Request) -> web.Response:
    """POST /hub/notices/{id}/confirm or /cancel: the sender's own draft or scheduled notice."""
    v, nid = await _own_notice(request)
    s = services_of(request)
    action = request.match_info["action"]
    now = s.clock.now()

    def work(session: Session) -> str:
        n = session.get(Notice, nid)
        if n is None or n.sender_id != v.id:
            raise DomainError(f"没有找到您发出的通知 #{nid}。")
        if action == "cancel":
            if n.status not in ("draft", "scheduled"):
                raise DomainError(f"通知 #{nid} 已经发出，无法取消。")
            n.status = "cancelled"
            session.add(n)
            return s.settings.template("notice_cancelled").format(id=nid)
        if n.status != "draft":
            raise DomainError(f"通知 #{nid} 不是待确认的通知。")
        outs, text = confirm_notice(s, session, n, now)
        send_all(s, session, now, outs)
        return text

    try:
        text = await s.db.run(work)
    except DomainError as e:
        raise bad_input(e.reply) from None
    s.wake_outbox()
    raise web.HTTPFound(f"/hub?done={quote(text)}")


async def vote_download(request: web.Request) -> web.Response:
    """GET /downloads/vote/{id}.xlsx: a vote's result and ballots (the viewer's area)."""
    v = require_viewer(request)
    s = services_of(request)
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_input("表决编号应为数字")
    data = await s.db.run(collect, s.settings, s.directory.current, int(raw))
    if data is None:
        raise web.HTTPNotFound(text=f"没有表决 #{raw}", content_type="text/plain")
    if not (v.is_admin or any(v.sees_building(b) for b in data.vote.building_ids)):
        raise refused()

    def write() -> bytes:
        with tempfile.TemporaryDirectory(prefix="redsteward-vote-") as tmp:
            return write_vote_workbook(data, Path(tmp) / "vote.xlsx", s.settings.tz).read_bytes()

    body = await asyncio.get_running_loop().run_in_executor(None, write)
    name = quote(f"业主表决_{raw}.xlsx")
    headers: dict[str, Any] = {"Content-Disposition": f"attachment; filename*=UTF-8''{name}"}
    return web.Response(
        body=body,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )


def setup(app: web.Application) -> None:
    """Register the hub's pages."""
    app.router.add_get("/hub", hub_page)
    app.router.add_post("/hub/notices", notice_submit)
    app.router.add_get("/hub/notices/{id}", notice_page)
    app.router.add_post("/hub/notices/{id}/{action:confirm|cancel}", notice_action)
    app.router.add_get("/downloads/vote/{id}.xlsx", vote_download)
