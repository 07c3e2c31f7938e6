"""Open311 GeoReport v2 for the city's systems: the taxonomy as services, tickets as requests.

GET endpoints are public, as the standard has them (descriptions are masked: no phone or
door numbers); POST needs an api_key from `[open311] api_keys` (or env
REDSTEWARD_OPEN311_KEY). Errors are the standard's list of {code, description}, in the
format the URL asks for.
"""

from __future__ import annotations

import hmac
import json
import os
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web
from sqlmodel import Session, col, select

from bot.app import BOT
from bot.web.actions import hotline_ticket
from bot.web.common import RUNG_LABELS, STATUS_LABELS
from handlers.context import Services
from handlers.privacy import mask_for_group
from handlers.sla import deadline_of
from storage.directory import BuildingInfo, Directory
from storage.models import OPEN_STATUSES, Ticket

MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
MAX_DESCRIPTION = 4000
GROUP = "红色物业"
SERVICE_DESCRIPTIONS: dict[str, str] = {
    "repair": "电梯、水管、漏水、下水道堵塞、楼道灯、门禁、屋顶、墙面、窗户、健身器材等设施维修",
    "sanitation": "垃圾清运、楼道卫生、绿化、异味、虫害、犬只粪便等环境卫生问题",
    "safety": "电动车上楼/楼道充电、飞线、消防通道堵塞、灭火器、燃气异味、高空抛物等安全隐患",
    "parking": "车位、堵车、车库、充电桩、车棚、道闸等停车管理问题",
    "order": "噪音、装修扰民、犬只、违建、占用公共空间、邻里纠纷等秩序问题",
    "fees": "物业费、不合理收费、维修资金、公共收益公开、停车费等收费问题",
    "utilities": "停水停电、暖气不热、燃气供应、水压、热水等水电暖问题",
    "service": "工作人员态度、响应慢、保安、无人接听、项目经理不在岗等物业服务问题",
}


class Open311Error(Exception):
    """An error the standard's way: an HTTP code and a description."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


# --- rendering ---------------------------------------------------------------------------------
def _xml(root_name: str, item_name: str, items: list[dict[str, Any]]) -> str:
    root = ET.Element(root_name)
    for item in items:
        el = ET.SubElement(root, item_name)
        for k, v in item.items():
            child = ET.SubElement(el, k)
            if v is None:
                continue
            child.text = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def respond(
    fmt: str, root: str, item: str, items: list[dict[str, Any]], status: int = 200
) -> web.Response:
    """A list of items as JSON or XML."""
    if fmt == "xml":
        return web.Response(
            text=_xml(root, item, items), status=status, content_type="text/xml", charset="utf-8"
        )
    return web.Response(
        text=json.dumps(items, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(fmt: str, code: int, description: str) -> web.Response:
    """The standard's error list."""
    return respond(fmt, "errors", "error", [{"code": code, "description": description}], code)


def _fmt(request: web.Request) -> str:
    return "xml" if request.match_info.get("fmt") == "xml" else "json"


def _w3c(services: Services, d: datetime | None) -> str | None:
    return services.local(d).isoformat(timespec="seconds") if d is not None else None


def _check_jurisdiction(services: Services, value: str | None) -> None:
    if value and value != services.settings.open311.jurisdiction_id:
        raise Open311Error(404, f"jurisdiction_id {value!r} is not served here")


# --- services ------------------------------------------------------------------------------------
def service_list(services: Services) -> list[dict[str, Any]]:
    """The complaint taxonomy as Open311 services."""
    return [
        {
            "service_code": code,
            "service_name": label,
            "description": SERVICE_DESCRIPTIONS.get(code, label),
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": GROUP,
        }
        for code, label in services.classifier.categories.items()
    ]


async def get_services(request: web.Request) -> web.Response:
    """GET /open311/v2/services.{json,xml}."""
    s = request.app[BOT].services
    _check_jurisdiction(s, request.query.get("jurisdiction_id"))
    return respond(_fmt(request), "services", "service", service_list(s))


# --- requests ------------------------------------------------------------------------------------
def request_json(services: Services, d: Directory, t: Ticket) -> dict[str, Any]:
    """A ticket as an Open311 service request."""
    b = d.buildings.get(t.building_id) if t.building_id else None
    closed = t.status not in OPEN_STATUSES
    place = mask_for_group(t.location) if t.location else None
    address = b.label if b else place
    if b and place and place != b.label:
        address = f"{b.label} {place}" if b.name not in place else f"{b.compound}{place}"
    rung = RUNG_LABELS[t.rung] if 0 <= t.rung < len(RUNG_LABELS) else str(t.rung)
    agency = (
        f"{b.compound}物业（红色管家）"
        if b and t.rung == 0
        else (f"{b.community}{rung}" if b else rung)
    )
    updated = max(
        (x for x in (t.updated_at, t.resolved_at, t.closed_at, t.cancelled_at) if x is not None),
        default=t.created_at,
    )
    return {
        "service_request_id": str(t.number),
        "status": "closed" if closed else "open",
        "status_notes": STATUS_LABELS.get(t.status, t.status),
        "service_name": services.classifier.categories.get(t.category, t.category),
        "service_code": t.category,
        "description": mask_for_group(t.summary),
        "agency_responsible": agency,
        "service_notice": "紧急" if t.urgent else None,
        "requested_datetime": _w3c(services, t.created_at),
        "updated_datetime": _w3c(services, updated),
        "expected_datetime": (
            None if closed else _w3c(services, deadline_of(t, "solution", services.settings))
        ),
        "address": address,
        "address_id": str(b.id) if b else None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def parse_w3c(services: Services, value: str, name: str) -> datetime:
    """A W3C datetime (local time when it has no offset)."""
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C datetime, e.g. 2026-11-01T00:00:00+08:00"
        ) from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=services.tz)
    try:
        return d.astimezone(services.clock.now().tzinfo)
    except (OverflowError, ValueError):
        raise Open311Error(400, f"{name} is out of range") from None


def _csv(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


async def get_requests(request: web.Request) -> web.Response:
    """GET /open311/v2/requests.{json,xml} with the standard's filters."""
    s = request.app[BOT].services
    q = request.query
    _check_jurisdiction(s, q.get("jurisdiction_id"))
    ids = _csv(q.get("service_request_id"))
    numbers = [int(i) for i in ids if i.isascii() and i.isdigit() and len(i) <= 9]
    codes = _csv(q.get("service_code"))
    unknown = [c for c in codes if c not in s.classifier.categories]
    if unknown:
        raise Open311Error(400, f"unknown service_code: {', '.join(unknown)[:200]}")
    statuses = _csv(q.get("status"))
    if any(st not in ("open", "closed") for st in statuses):
        raise Open311Error(400, "status must be open or closed (comma-delimited)")
    start = parse_w3c(s, q["start_date"], "start_date") if q.get("start_date") else None
    end = parse_w3c(s, q["end_date"], "end_date") if q.get("end_date") else None
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if ids:
        # the standard: service_request_id overrides every other filter

        def by_id(session: Session) -> list[Ticket]:
            if not numbers:
                return []
            return list(
                session.exec(
                    select(Ticket)
                    .where(col(Ticket.number).in_(numbers))
                    .order_by(col(Ticket.number))
                    .limit(MAX_REQUESTS)
                )
            )

        tickets = await s.db.run(by_id)
    else:
        if start is None and end is None:
            start = s.clock.now() - DEFAULT_WINDOW

        def query(session: Session) -> list[Ticket]:
            sel = select(Ticket)
            if codes:
                sel = sel.where(col(Ticket.category).in_(codes))
            if statuses == ["open"]:
                sel = sel.where(col(Ticket.status).in_(list(OPEN_STATUSES)))
            elif statuses == ["closed"]:
                sel = sel.where(col(Ticket.status).not_in(list(OPEN_STATUSES)))
            if start is not None:
                sel = sel.where(col(Ticket.created_at) >= start)
            if end is not None:
                sel = sel.where(col(Ticket.created_at) <= end)
            return list(
                session.exec(sel.order_by(col(Ticket.created_at).desc()).limit(MAX_REQUESTS))
            )

        tickets = await s.db.run(query)
    d = s.directory.current
    items = [request_json(s, d, t) for t in tickets]
    return respond(_fmt(request), "service_requests", "request", items)


async def get_request(request: web.Request) -> web.Response:
    """GET /open311/v2/requests/{id}.{json,xml}: a list of one, as the standard says."""
    s = request.app[BOT].services
    _check_jurisdiction(s, request.query.get("jurisdiction_id"))
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise Open311Error(404, f"no service request {raw[:40]!r}")
    number = int(raw)

    def query(session: Session) -> Ticket | None:
        return session.exec(select(Ticket).where(Ticket.number == number)).first()

    t = await s.db.run(query)
    if t is None:
        raise Open311Error(404, f"no service request {number}")
    return respond(
        _fmt(request), "service_requests", "request", [request_json(s, s.directory.current, t)]
    )


def api_key_names(services: Services) -> dict[str, str]:
    """Configured keys (and env REDSTEWARD_OPEN311_KEY) to the name of the system holding them."""
    keys = {k.key: k.name for k in services.settings.open311.api_keys}
    env = os.environ.get("REDSTEWARD_OPEN311_KEY")
    if env:
        keys[env] = "12345热线"
    return keys


def _key_owner(services: Services, given: str) -> str | None:
    for key, name in api_key_names(services).items():
        if hmac.compare_digest(key.encode(), given.encode()):
            return name
    return None


def find_building(d: Directory, address: str) -> BuildingInfo | None:
    """The building an address names (compound and building), the most specific match."""
    best: BuildingInfo | None = None
    for b in d.buildings.values():
        if b.compound in address and b.name in address:
            if best is None or len(b.label) > len(best.label):
                best = b
    return best


async def _post_fields(request: web.Request) -> dict[str, str]:
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Open311Error(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Open311Error(400, "the body must be an object of fields")
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str | int | float)}
    try:
        form = await request.post()
    except ValueError:
        raise Open311Error(400, "the body must be form-encoded fields") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def post_request(request: web.Request) -> web.Response:
    """POST /open311/v2/requests.{json,xml}: a ticket handed over by the hotline."""
    s = request.app[BOT].services
    f = await _post_fields(request)
    given = f.get("api_key", "")
    owner = _key_owner(s, given) if given else None
    if owner is None:
        raise Open311Error(403, "a valid api_key is required")
    _check_jurisdiction(s, f.get("jurisdiction_id"))
    code = f.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in s.classifier.categories:
        raise Open311Error(404, f"service_code {code[:40]!r} not found")
    description = " ".join(f.get("description", "").split())
    if not description:
        raise Open311Error(400, "description is required")
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    d = s.directory.current
    building: BuildingInfo | None = None
    address = f.get("address_string", "").strip()[:200] or None
    if f.get("address_id"):
        raw = f["address_id"].strip()
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in d.buildings:
            raise Open311Error(400, f"address_id {raw[:40]!r} is not a known building")
        building = d.buildings[int(raw)]
    elif address:
        building = find_building(d, address)
    elif not (f.get("lat") and f.get("long")):
        raise Open311Error(400, "a location is required: address_string, address_id or lat/long")
    contact = {
        k: f[k][:100]
        for k in ("first_name", "last_name", "phone", "email", "account_id", "device_id")
        if f.get(k)
    }
    if f.get("lat") and f.get("long"):
        contact["lat"], contact["long"] = f["lat"][:30], f["long"][:30]
    key = request.headers.get("Idempotency-Key") or f.get("attribute[hotline_id]") or ""
    key = key.strip()
    if len(key) > 100:
        raise Open311Error(400, "Idempotency-Key is longer than 100 characters")
    # classified before the database work (in the classifier process when it runs): jieba
    # in a database thread would hold up the event loop and load its dictionary here
    urgent = (await s.understand(description)).urgent
    t, _new = await s.db.run(
        partial(
            hotline_ticket,
            services=s,
            source_name=owner,
            hand_over_id=key or uuid.uuid4().hex,
            category=code,
            description=description,
            urgent=urgent,
            building=building,
            address=address,
            contact=contact,
            now=s.clock.now(),
        )
    )
    s.wake_outbox()
    notice = f"已转{building.label}红色管家处理" if building else "已登记，待社区分派"
    return respond(
        _fmt(request),
        "service_requests",
        "request",
        [
            {
                "service_request_id": str(t.number),
                "service_notice": notice,
                "account_id": f.get("account_id") or None,
            }
        ],
        201,
    )


@web.middleware
async def open311_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Open311 errors as the standard's list, in the URL's format."""
    if not request.path.startswith("/open311/"):
        return await handler(request)  # type: ignore[no-any-return]
    fmt = "xml" if request.path.endswith(".xml") else "json"
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except Open311Error as e:
        return error_response(fmt, e.code, e.description)
    except web.HTTPException as e:
        if e.status >= 400:
            return error_response(fmt, e.status, e.reason)
        raise


def setup(app: web.Application) -> None:
    """Register the Open311 routes."""
    base = "/open311/v2"
    fmt = "{fmt:json|xml}"
    app.middlewares.append(open311_errors)
    app.router.add_get(f"{base}/services.{fmt}", get_services)
    app.router.add_get(f"{base}/requests.{fmt}", get_requests)
    app.router.add_post(f"{base}/requests.{fmt}", post_request)
    app.router.add_get(base + "/requests/{id:[^/.]+}." + fmt, get_request)
