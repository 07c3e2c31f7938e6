"""Sign-in for officers and admins: a signed session cookie, CSRF tokens, who sees what.

The cookie holds only the person's id and the CSRF token, signed (itsdangerous) with the
deployment's secret key; it is HttpOnly and SameSite=Lax. Every dashboard form carries the
token in a hidden `_csrf` field and the middleware refuses a POST without the right one.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from loguru import logger
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from bot.app import BOT
from config.schema import Settings
from storage.db import Database
from storage.directory import Directory
from storage.models import Person, Ticket
from storage.signin import failures_since, forget_failures, record_failure

COOKIE = "rs_session"
DASHBOARD_ROLES = frozenset({"community_secretary", "street_officer", "district_officer", "admin"})
# paths whose POSTs are not dashboard forms: machine APIs with their own rules
_NO_CSRF_PREFIXES = ("/api/", "/open311/")

_hasher = PasswordHasher()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class WebSession:
    """What the session cookie carries."""

    user_id: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in officer and the area they may see."""

    id: str
    name: str
    is_admin: bool
    roles: frozenset[str]
    buildings: frozenset[int]
    communities: frozenset[int]  # communities all of whose buildings are visible

    def sees_building(self, building_id: int | None, community_id: int | None = None) -> bool:
        """Whether a building (or, with none, a community-level item) is in the area."""
        if self.is_admin:
            return True
        if building_id is not None:
            return building_id in self.buildings
        return community_id is not None and community_id in self.communities

    def sees(self, ticket: Ticket) -> bool:
        """Whether a ticket is in the area."""
        return self.sees_building(ticket.building_id, ticket.community_id)

    def ticket_scope(self) -> list[ColumnElement[bool]]:
        """SQL conditions limiting tickets to the area (none for an admin)."""
        if self.is_admin:
            return []
        return [
            or_(
                col(Ticket.building_id).in_(sorted(self.buildings)),
                and_(
                    col(Ticket.building_id).is_(None),
                    col(Ticket.community_id).in_(sorted(self.communities)),
                ),
            )
        ]

    @property
    def building_ids(self) -> frozenset[int] | None:
        """The buildings to pass to storage.stats.rates (None: all, for an admin)."""
        return None if self.is_admin else self.buildings


SESSION = web.AppKey("web_session_serializer", URLSafeTimedSerializer)
_REQ_SESSION = web.RequestKey("rs_web_session", WebSession)


def secret_key(settings: Settings) -> str:
    """The key that signs session cookies: env, then config, else a random one for this run."""
    key = os.environ.get("REDSTEWARD_SECRET_KEY") or settings.web.secret_key
    if not key:
        logger.warning(
            "no [web] secret_key and no REDSTEWARD_SECRET_KEY: sign-ins last until restart"
        )
        key = secrets.token_urlsafe(32)
    return key


def viewer_for(directory: Directory, person_id: str) -> Viewer | None:
    """The viewer a person is on the dashboard, or None if they may not sign in."""
    p = directory.person(person_id)
    if p is None:
        return None
    roles = frozenset(p.roles) & DASHBOARD_ROLES
    if not roles:
        return None
    buildings = frozenset(directory.buildings_visible_to(person_id))
    by_community: dict[int, set[int]] = {}
    for b in directory.buildings.values():
        by_community.setdefault(b.community_id, set()).add(b.id)
    full = frozenset(c for c, bs in by_community.items() if bs <= buildings)
    return Viewer(p.id, p.name, "admin" in roles, roles, buildings, full)


def get_session(request: web.Request) -> WebSession:
    """The request's session (a fresh anonymous one if the cookie is missing or bad)."""
    return request[_REQ_SESSION]


def current_viewer(request: web.Request) -> Viewer | None:
    """The signed-in viewer, if any."""
    sess = get_session(request)
    if sess.user_id is None:
        return None
    return viewer_for(request.app[BOT].services.directory.current, sess.user_id)


def require_viewer(request: web.Request) -> Viewer:
    """The signed-in viewer, or a redirect to the sign-in page."""
    v = current_viewer(request)
    if v is None:
        raise web.HTTPFound(f"/login?next={request.rel_url.path_qs}")
    return v


def _load(request: web.Request) -> WebSession:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return WebSession(dirty=True)
    settings = request.app[BOT].services.settings
    try:
        data = request.app[SESSION].loads(raw, max_age=int(settings.web.session_hours * 3600))
    except BadSignature:
        return WebSession(dirty=True)
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return WebSession(dirty=True)
    uid = data.get("u")
    return WebSession(uid if isinstance(uid, str) else None, data["c"])


def _store(request: web.Request, resp: web.StreamResponse, sess: WebSession) -> None:
    if not sess.dirty or resp.prepared:
        return
    settings = request.app[BOT].services.settings
    value = request.app[SESSION].dumps({"u": sess.user_id, "c": sess.csrf})
    resp.set_cookie(
        COOKIE,
        value,
        max_age=int(settings.web.session_hours * 3600),
        httponly=True,
        samesite="Lax",
        secure=settings.web.secure_cookie,
        path="/",
    )


def _forbidden_page(message: str) -> web.Response:
    return web.Response(
        status=403,
        text=f"<!doctype html><meta charset=utf-8><title>拒绝</title><p>{message}</p>"
        '<p><a href="/">返回总览</a></p>',
        content_type="text/html",
    )


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session, check the CSRF token of every dashboard form, save the cookie."""
    sess = _load(request)
    request[_REQ_SESSION] = sess
    if request.method == "POST" and not request.path.startswith(_NO_CSRF_PREFIXES):
        try:
            form = await request.post()
        except ValueError:
            form = None  # an unreadable body has no token either
        token = form.get("_csrf") if form is not None else None
        if not isinstance(token, str) or not hmac.compare_digest(token, sess.csrf):
            refusal = _forbidden_page("表单已过期或来源不明（CSRF 校验未通过），请刷新页面后重试。")
            _store(request, refusal, sess)
            return refusal
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        _store(request, e, sess)
        _harden(e)
        raise
    _store(request, resp, sess)
    _harden(resp)
    return resp


def _harden(resp: web.StreamResponse) -> None:
    """Pages are not framed by other sites, not sniffed, and do not leak their address."""
    if resp.prepared:
        return
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")


def password_hashes(session: Session, login: str) -> list[tuple[str, str]]:
    """(person id, argon2 hash) of the people a login names: chat id first, else name."""
    login = login.strip()
    people = list(session.exec(select(Person).where(Person.id == login)))
    if not people:
        people = list(session.exec(select(Person).where(Person.name == login)))
    return [(p.id, p.password_hash) for p in people if p.password_hash and not p.erased]


def verify_password(candidates: list[tuple[str, str]], password: str) -> str | None:
    """The person whose hash the password matches (CPU-heavy: run it off the loop)."""
    for person_id, hashed in candidates:
        try:
            if _hasher.verify(hashed, password):
                return person_id
        except (VerificationError, InvalidHashError):
            continue
    return None


async def check_password(request: web.Request, login: str, password: str) -> str | None:
    """The person id when the login (chat id or name) and password match, else None."""
    candidates = await request.app[BOT].services.db.run(password_hashes, login)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, verify_password, candidates, password)


def sign_in(request: web.Request, person_id: str) -> None:
    """Start a signed-in session (a new CSRF token: no fixation)."""
    sess = get_session(request)
    sess.user_id = person_id
    sess.csrf = secrets.token_urlsafe(24)
    sess.dirty = True


def sign_out(request: web.Request) -> None:
    """End the session."""
    sess = get_session(request)
    sess.user_id = None
    sess.csrf = secrets.token_urlsafe(24)
    sess.dirty = True


class SignInThrottle:
    """Failed sign-ins slow a guesser down: too many for one account or one address, and
    further tries are refused for a while (the right password included, so guessing gains
    nothing). Counted in the database (storage/signin.py): the web pages of every process
    of a deployment count the same tries.
    """

    WINDOW = timedelta(minutes=15)
    PER_LOGIN = 5
    PER_ADDRESS = 20

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _keys(login: str, address: str) -> tuple[str, str]:
        """The account's key and the address's (storage/signin.py)."""
        return f"login:{login.casefold()}", f"addr:{address}"

    async def wait(self, login: str, address: str, now: datetime) -> timedelta | None:
        """How long this login or address must wait before trying again, or None."""
        by_login, by_address = self._keys(login, address)
        found = await self.db.run(failures_since, (by_login, by_address), now - self.WINDOW)
        waits = []
        for key, limit in ((by_login, self.PER_LOGIN), (by_address, self.PER_ADDRESS)):
            count, oldest = found.get(key, (0, now))
            if count >= limit:
                waits.append(oldest + self.WINDOW - now)
        return max(waits) if waits else None

    async def failed(self, login: str, address: str, now: datetime) -> None:
        """Count a failed try."""
        await self.db.run(record_failure, self._keys(login, address), now, now - self.WINDOW)

    async def succeeded(self, login: str) -> None:
        """A right password forgets the account's failures (not the address's)."""
        by_login, _ = self._keys(login, "")
        await self.db.run(forget_failures, by_login)


THROTTLE = web.AppKey("sign_in_throttle", SignInThrottle)


def setup(app: web.Application) -> None:
    """Install the session middleware and its signer."""
    settings = app[BOT].services.settings
    app[SESSION] = URLSafeTimedSerializer(secret_key(settings), salt="redsteward-session")
    app[THROTTLE] = SignInThrottle(app[BOT].services.db)
    app.middlewares.append(session_middleware)
