"""The dashboard pages: sign-in, overview, ticket board and page, complaints, ranking, downloads."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from loguru import logger
from sqlmodel import Session

from bot.app import BOT
from bot.web import queries
from bot.web.actions import ActionRefused, dismiss_complaint, ticket_from_complaint
from bot.web.auth import (
    THROTTLE,
    Viewer,
    check_password,
    current_viewer,
    require_viewer,
    sign_in,
    sign_out,
    viewer_for,
)
from bot.web.charts import bars_svg, trend_svg
from bot.web.common import (
    EVENT_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    bad_input,
    day_start,
    month_period,
    pct,
    period_from,
    refused,
    render,
    rung_label,
    services_of,
)
from bot.web.exports import XLSX, Ledger, area_report, ledger_data, report_xlsx
from bot.web.ranking import compound_ranking
from handlers.sla import STEP_LABELS, next_deadline
from storage.media import attachments_of
from storage.models import RUNGS, TICKET_STATUSES, PossibleComplaint, Ticket
from storage.outbox import pending_count as outbox_pending_count

BOARD_LIMIT = 300
# who a visitor of the demo's overview is: everything, read-only, nothing else
GUEST = Viewer("", "访客", True, frozenset(), frozenset(), frozenset())


def _safe_next(value: str | None) -> str:
    """Only a local path is a place to go back to after signing in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# --- sign-in ---------------------------------------------------------------------------------
async def login_page(request: web.Request) -> web.Response:
    """GET /login."""
    if current_viewer(request) is not None:
        raise web.HTTPFound(_safe_next(request.query.get("next")))
    return _login_form(request, error=None)


def _login_form(
    request: web.Request,
    error: str | None,
    status: int = 200,
    login: str = "",
    next_path: str | None = None,
) -> web.Response:
    s = services_of(request)
    demo = (
        [p.name for p in s.settings.people if p.password]
        if request.app[BOT].sim is not None
        else []
    )
    resp = render(
        request,
        "login.html",
        error=error,
        login=login,
        demo=demo,
        next=_safe_next(next_path or request.query.get("next")),
    )
    resp.set_status(status)
    return resp


async def login_submit(request: web.Request) -> web.Response:
    """POST /login: check the password (argon2) and start a session."""
    form = await request.post()
    login, password, nxt = form.get("login"), form.get("password"), form.get("next")
    next_path = nxt if isinstance(nxt, str) else None
    if not isinstance(login, str) or not isinstance(password, str) or not login.strip():
        return _login_form(request, "请输入账号和密码", 400, next_path=next_path)
    s = services_of(request)
    login = login.strip()[:64]
    throttle, address, now = request.app[THROTTLE], request.remote or "?", s.clock.now()
    wait = await throttle.wait(login, address, now)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        logger.warning(
            "dashboard sign-in refused: too many failures ({!r} from {})", login, address
        )
        resp = _login_form(
            request, f"登录失败次数过多，请{minutes}分钟后再试", 429, login, next_path
        )
        resp.headers["Retry-After"] = str(minutes * 60)
        return resp
    person_id = await check_password(request, login, password[:256])
    if person_id is None or viewer_for(s.directory.current, person_id) is None:
        await throttle.failed(login, address, now)
        logger.info("dashboard sign-in failed for {!r} from {}", login, address)
        return _login_form(
            request, "账号或密码不正确，或该账号没有工作台权限", 401, login, next_path
        )
    await throttle.succeeded(login)
    sign_in(request, person_id)
    logger.info("dashboard sign-in: {}", person_id)
    raise web.HTTPFound(_safe_next(next_path))


async def logout(request: web.Request) -> web.Response:
    """POST /logout."""
    sign_out(request)
    raise web.HTTPFound("/login")


# --- overview --------------------------------------------------------------------------------
async def overview(request: web.Request) -> web.Response:
    """GET /: per area open / overdue / resolved today, the three rates, the charts.

    In simulator mode (the demo) a visitor who has not signed in sees the whole demo's
    overview, as everything else there is open too; elsewhere it needs a sign-in.
    """
    s = services_of(request)
    signed_in = current_viewer(request)
    guest = signed_in is None and request.app[BOT].sim is not None
    v = GUEST if guest else require_viewer(request)
    period = period_from(request)
    now = s.clock.now()
    today = s.local(now).date()
    today_start = day_start(s, today)
    trend_first = today - timedelta(days=29)
    scope = v.ticket_scope()

    def query(session: Session) -> queries.OverviewFigures:
        return queries.overview_figures(
            session,
            scope=scope,
            building_ids=v.building_ids,
            settings=s.settings,
            now=now,
            today_start=today_start,
            trend_first=trend_first,
            period_start=period.start,
            period_end=period.end,
        )

    figures = await s.db.run(query)
    waiting = await s.db.run(outbox_pending_count) if v.is_admin else None
    counts, series, total, by_cat = (
        figures.counts,
        figures.series,
        figures.total,
        figures.by_category,
    )
    d = s.directory.current
    areas: dict[str, queries.AreaCounts] = {}
    for b in sorted(d.buildings.values(), key=lambda b: (b.community, b.compound)):
        if v.sees_building(b.id):
            areas.setdefault(b.community, queries.AreaCounts())
    for (community_id, building_id), c in counts.items():
        bi = d.buildings.get(building_id) if building_id is not None else None
        name = bi.community if bi else d.communities.get(community_id or -1, ("未定位",))[0]
        a = areas.setdefault(name, queries.AreaCounts())
        a.open += c.open
        a.overdue += c.overdue
        a.resolved_today += c.resolved_today
    sums = queries.AreaCounts(
        sum(a.open for a in areas.values()),
        sum(a.overdue for a in areas.values()),
        sum(a.resolved_today for a in areas.values()),
    )
    labels = s.classifier.categories
    cat_items = sorted(
        ((labels.get(str(k), str(k)), r.total) for k, r in by_cat.items()), key=lambda kv: -kv[1]
    )
    return render(
        request,
        "index.html",
        active="overview",
        outbox_waiting=waiting,
        areas=areas,
        sums=sums,
        period=period,
        rates=total,
        pct=pct,
        trend=trend_svg(
            [d for d, _, _ in series], [n for _, n, _ in series], [r for _, _, r in series]
        ),
        by_category=bars_svg(cat_items),
        today=today.isoformat(),
        guest=guest,
    )


# --- ticket board and page -------------------------------------------------------------------
def _board_filter(
    request: web.Request, viewer_buildings: frozenset[int] | None
) -> queries.BoardFilter:
    q = request.query
    labels = services_of(request).classifier.categories
    f = queries.BoardFilter()
    if q.get("status"):
        if q["status"] not in TICKET_STATUSES:
            raise bad_input(f"没有这个状态：{q['status']}")
        f.status = q["status"]
    if q.get("category"):
        if q["category"] not in labels:
            raise bad_input(f"没有这个类别：{q['category']}")
        f.category = q["category"]
    if q.get("building"):
        raw = q["building"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise bad_input("楼栋应为列表中的一项")
        f.building_id = int(raw)
        if viewer_buildings is not None and f.building_id not in viewer_buildings:
            raise refused()
    if q.get("rung"):
        raw = q["rung"]
        if not (raw.isascii() and raw.isdigit()) or int(raw) >= len(RUNGS):
            raise bad_input("层级应为 0-4")
        f.rung = int(raw)
    f.overdue = q.get("overdue") in ("1", "on", "true")
    f.urgent = q.get("urgent") in ("1", "on", "true")
    return f


def _ticket_row(request: web.Request, t: Ticket) -> dict[str, Any]:
    s = services_of(request)
    d = s.directory.current
    b = d.buildings.get(t.building_id) if t.building_id else None
    nxt = next_deadline(t, s.settings)
    return {
        "number": t.number,
        "category": s.classifier.categories.get(t.category, t.category),
        "urgent": t.urgent,
        "major": t.major,
        "building": b.label if b else (t.location or "—"),
        "status": t.status,
        "status_label": STATUS_LABELS.get(t.status, t.status),
        "rung": rung_label(t.rung),
        "deadline": (
            f"{STEP_LABELS.get(nxt[0], nxt[0])} {s.local(nxt[1]).strftime('%m-%d %H:%M')}"
            if nxt
            else ""
        ),
        "overdue": queries.is_overdue(t, s.settings, s.clock.now()),
        "summary": t.summary,
        "created": s.local(t.created_at).strftime("%m-%d %H:%M"),
        "source": SOURCE_LABELS.get(t.source, t.source),
    }


async def ticket_board(request: web.Request) -> web.Response:
    """GET /tickets: the board with its filters."""
    v = require_viewer(request)
    s = services_of(request)
    f = _board_filter(request, v.building_ids)
    now = s.clock.now()
    tickets = await s.db.run(queries.board, v.ticket_scope(), f, s.settings, now, BOARD_LIMIT)
    d = s.directory.current
    buildings = sorted(
        (b for b in d.buildings.values() if v.sees_building(b.id)),
        key=lambda b: (b.community, b.compound, b.name),
    )
    return render(
        request,
        "board.html",
        active="board",
        tickets=[_ticket_row(request, t) for t in tickets],
        f=f,
        statuses=STATUS_LABELS,
        categories=s.classifier.categories,
        buildings=buildings,
        rungs=[(i, rung_label(i)) for i in range(len(RUNGS))],
        limit=BOARD_LIMIT,
    )


async def ticket_page(request: web.Request) -> web.Response:
    """GET /tickets/{number}: the ticket, its timeline and the messages that made it."""
    v = require_viewer(request)
    s = services_of(request)
    raw = request.match_info["number"].lstrip("#")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_input("工单号应为数字")
    detail = await s.db.run(queries.ticket_detail, int(raw))
    if detail is None:
        raise web.HTTPNotFound(text=f"没有工单 #{raw}", content_type="text/plain")
    t = detail.ticket
    if not v.sees(t):
        raise refused(f"工单 #{t.number} 不在您的辖区范围内，无权查看。")
    names = detail.names

    def who(pid: str | None) -> str:
        return names.get(pid, pid) if pid else "系统"

    events = [
        {
            "time": s.local(e.time).strftime("%Y-%m-%d %H:%M"),
            "kind": EVENT_LABELS.get(e.kind, e.kind),
            "actor": who(e.actor_id),
            "detail": e.detail or "",
            "data": e.data or {},
        }
        for e in detail.events
    ]
    messages = [
        {
            "time": s.local(m.time).strftime("%Y-%m-%d %H:%M"),
            "sender": m.sender_name,
            "room": (
                detail.rooms.get(m.room_id, m.room_id)
                if m.room_id
                else ("热线转办" if m.channel_message_id.startswith("open311:") else "私聊")
            ),
            "text": m.text,
        }
        for m in detail.messages
    ]
    row = _ticket_row(request, t)
    row.update(
        reporter=who(t.reporter_id),
        assignee=who(t.assignee_id) if t.assignee_id else "—",
        reporters=[who(r.person_id) for r in detail.reporters],
        location=t.location or "—",
        rating=t.rating or "—",
        rating_comment=t.rating_comment or "",
        times=[
            (label, s.local(at).strftime("%Y-%m-%d %H:%M") if at else "—")
            for label, at in (
                ("报事", t.created_at),
                ("首次响应", t.first_response_at),
                ("出方案", t.plan_at),
                ("书面答复", t.reply_at),
                ("办结", t.resolved_at),
                ("关闭", t.closed_at),
            )
        ],
    )
    assert t.id is not None
    photos = [
        {
            "url": f"/media/{a.file_name}",
            "label": "整改凭证" if a.role == "proof" else "现场照片",
            "who": who(a.person_id),
            "time": s.local(a.time).strftime("%Y-%m-%d %H:%M"),
        }
        for a in await s.db.run(attachments_of, t.id)
    ]
    return render(
        request,
        "ticket.html",
        active="board",
        t=row,
        events=events,
        messages=messages,
        photos=photos,
    )


# --- possible complaints ---------------------------------------------------------------------
async def complaints(request: web.Request) -> web.Response:
    """GET /complaints: what the classifier was unsure of, to ticket or dismiss."""
    v = require_viewer(request)
    s = services_of(request)
    status = request.query.get("status", "open")
    if status not in ("open", "ticketed", "dismissed"):
        raise bad_input("状态应为 open、ticketed 或 dismissed")
    rows = await s.db.run(queries.possible_complaints, v.building_ids, status)
    d = s.directory.current
    items = [
        {
            "id": pc.id,
            "text": pc.text,
            "sender": sender,
            "room": topic or "私聊",
            "building": d.buildings[pc.building_id].label if pc.building_id in d.buildings else "—",
            "category": pc.category or s.settings.tickets.default_category,
            "confidence": f"{pc.confidence:.2f}",
            "time": s.local(pc.created_at).strftime("%m-%d %H:%M"),
            "ticket_id": pc.ticket_id,
        }
        for pc, sender, topic in rows
    ]
    return render(
        request,
        "complaints.html",
        active="complaints",
        items=items,
        status=status,
        categories=s.classifier.categories,
        notice=request.query.get("done", ""),
    )


async def _complaint_in_area(request: web.Request) -> tuple[Viewer, int]:
    v = require_viewer(request)
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_input("编号应为数字")
    cid = int(raw)
    s = services_of(request)
    pc = await s.db.run(lambda session: session.get(PossibleComplaint, cid))
    if pc is None:
        raise web.HTTPNotFound(text="没有这条疑似投诉", content_type="text/plain")
    if not v.sees_building(pc.building_id, pc.community_id):
        raise refused()
    return v, cid


async def complaint_to_ticket(request: web.Request) -> web.Response:
    """POST /complaints/{id}/ticket: make it a ticket (category, urgent from the form)."""
    v, cid = await _complaint_in_area(request)
    s = services_of(request)
    form = await request.post()
    category = form.get("category")
    if not isinstance(category, str) or category not in s.classifier.categories:
        raise bad_input("请选择类别")
    urgent = form.get("urgent") in ("1", "on")
    try:
        ticket = await s.db.run(
            ticket_from_complaint, s, cid, category, urgent, v.id, s.clock.now()
        )
    except ActionRefused as e:
        raise bad_input(str(e)) from None
    s.wake_outbox()
    raise web.HTTPFound(f"/tickets/{ticket.number}")


async def complaint_dismiss(request: web.Request) -> web.Response:
    """POST /complaints/{id}/dismiss: not a complaint (logged with the reason)."""
    v, cid = await _complaint_in_area(request)
    s = services_of(request)
    form = await request.post()
    reason = form.get("reason")
    reason = reason.strip()[:200] if isinstance(reason, str) else ""
    try:
        await s.db.run(dismiss_complaint, cid, v.id, reason, s.clock.now())
    except ActionRefused as e:
        raise bad_input(str(e)) from None
    raise web.HTTPFound("/complaints?done=" + quote("已标记为非投诉"))


# --- ranking and downloads -------------------------------------------------------------------
async def ranking(request: web.Request) -> web.Response:
    """GET /ranking: 红黑榜 of compounds for a period."""
    v = require_viewer(request)
    s = services_of(request)
    period = period_from(request)
    d = s.directory.current
    ranks = await s.db.run(compound_ranking, d, period.start, period.end, v.building_ids)
    red = [r for r in ranks if r.board == "红榜"]
    black = [r for r in ranks if r.board == "黑榜"]
    return render(
        request,
        "ranking.html",
        active="ranking",
        ranks=ranks,
        red=red,
        black=black,
        period=period,
        pct=pct,
    )


async def downloads(request: web.Request) -> web.Response:
    """GET /downloads: the ledger and the monthly report."""
    require_viewer(request)
    s = services_of(request)
    today = s.local(s.clock.now()).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return render(
        request,
        "downloads.html",
        active="downloads",
        first=today.replace(day=1).isoformat(),
        today=today.isoformat(),
        this_month=today.strftime("%Y-%m"),
        last_month=last_month,
    )


def _ledger(request: web.Request) -> Ledger:
    s = services_of(request)
    return Ledger(s.directory.current, s.classifier.categories, s.settings)


def _xlsx(body: bytes, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


async def ledger_download(request: web.Request) -> web.Response:
    """GET /downloads/ledger.xlsx?start=&end=: the ledger of the viewer's area."""
    v = require_viewer(request)
    s = services_of(request)
    period = period_from(request)
    data = await s.db.run(ledger_data, v.ticket_scope(), period.start, period.end)
    body = await asyncio.get_running_loop().run_in_executor(
        None, _ledger(request).ledger_xlsx, data, period.label
    )
    return _xlsx(body, f"问题台账_{period.first}_{period.last}.xlsx")


async def monthly_download(request: web.Request) -> web.Response:
    """GET /downloads/monthly.xlsx?month=YYYY-MM: the monthly report of the viewer's area."""
    v = require_viewer(request)
    s = services_of(request)
    month = request.query.get("month") or s.local(s.clock.now()).strftime("%Y-%m")
    period = month_period(s, month)
    d = s.directory.current
    communities = None if v.is_admin else v.communities
    data = await s.db.run(
        area_report,
        s.settings,
        d,
        s.classifier.categories,
        period.first.year,
        period.first.month,
        communities,
    )
    body = await asyncio.get_running_loop().run_in_executor(None, report_xlsx, data)
    return _xlsx(body, f"物业投诉月报_{period.first.strftime('%Y-%m')}.xlsx")


def setup(app: web.Application) -> None:
    """Register the pages."""
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", overview)
    app.router.add_get("/tickets", ticket_board)
    app.router.add_get("/tickets/{number}", ticket_page)
    app.router.add_get("/complaints", complaints)
    app.router.add_post("/complaints/{id}/ticket", complaint_to_ticket)
    app.router.add_post("/complaints/{id}/dismiss", complaint_dismiss)
    app.router.add_get("/ranking", ranking)
    app.router.add_get("/downloads", downloads)
    app.router.add_get("/downloads/ledger.xlsx", ledger_download)
    app.router.add_get("/downloads/monthly.xlsx", monthly_download)
