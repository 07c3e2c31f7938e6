"""Buildings, groups and people with their roles: everyone looks, admins edit, all is logged."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session, col, select

from bot.setup import hash_password
from bot.web.actions import ActionRefused
from bot.web.auth import Viewer, require_viewer
from bot.web.common import bad_input, render, require_admin, services_of
from config.schema import ROLE_LABELS
from storage.directory import Directory, RoleGrant, audit
from storage.models import AuditLog, Building, Compound, Person, RoleAssignment, Room

# which scope each role takes (as in config: stewards and grid workers a compound or building)
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "red_steward": ("compound", "building"),
    "grid_worker": ("compound", "building"),
    "community_secretary": ("community",),
    "street_officer": ("street",),
    "district_officer": ("district",),
    "admin": ("global",),
}


def _form_str(form: Any, name: str, label: str, max_len: int = 64) -> str:
    v = form.get(name)
    if not isinstance(v, str) or not v.strip():
        raise bad_input(f"请填写{label}")
    v = v.strip()
    if len(v) > max_len:
        raise bad_input(f"{label}最长 {max_len} 个字")
    return v


def _form_int(form: Any, name: str, label: str) -> int:
    v = form.get(name)
    if not isinstance(v, str) or not (v.isascii() and v.isdigit()) or len(v) > 9:
        raise bad_input(f"请选择{label}")
    return int(v)


def scope_label(d: Directory, kind: str, value: str) -> str:
    """Where a grant applies, in words."""
    if kind == "global":
        return "全部"
    if kind == "building" and value.isdigit() and int(value) in d.buildings:
        return d.buildings[int(value)].label
    if kind == "compound":
        for b in d.buildings.values():
            if str(b.compound_id) == value:
                return b.compound
    if kind == "community" and value.isdigit() and int(value) in d.communities:
        return d.communities[int(value)][0]
    return value


def _grant_visible(d: Directory, v: Viewer, kind: str, value: str) -> bool:
    if v.is_admin:
        return True
    g = RoleGrant("x", kind, value)
    return any(d.grant_covers(g, d.buildings[b]) for b in v.buildings if b in d.buildings)


async def directory_page(request: web.Request) -> web.Response:
    """GET /directory: buildings with their groups, people with their roles, the change log."""
    v = require_viewer(request)
    s = services_of(request)
    d = s.directory.current

    def query(session: Session) -> tuple[Any, ...]:
        grants = list(session.exec(select(RoleAssignment).order_by(col(RoleAssignment.id))))
        people = {
            p.id: p
            for p in session.exec(
                select(Person).where(col(Person.id).in_(sorted({g.person_id for g in grants})))
            )
        }
        log = list(session.exec(select(AuditLog).order_by(col(AuditLog.id).desc()).limit(50)))
        compounds = list(session.exec(select(Compound).order_by(col(Compound.id))))
        rooms = list(session.exec(select(Room).order_by(col(Room.topic))))
        return grants, people, log, compounds, rooms

    grants, people, log, compounds, rooms = await s.db.run(query)
    buildings = sorted(
        (b for b in d.buildings.values() if v.sees_building(b.id)),
        key=lambda b: (b.community, b.compound, b.name),
    )
    groups = [
        {
            "id": r.id,
            "topic": r.topic,
            "building": d.buildings[r.building_id].label
            if r.building_id in d.buildings
            else "未绑定",
            "building_id": r.building_id,
        }
        for r in rooms
        if v.is_admin or (r.building_id is not None and v.sees_building(r.building_id))
    ]
    persons: dict[str, dict[str, Any]] = {}
    for g in grants:
        if not _grant_visible(d, v, g.scope_kind, g.scope_value):
            continue
        p = people.get(g.person_id)
        entry = persons.setdefault(
            g.person_id,
            {
                "id": g.person_id,
                "name": p.name if p else g.person_id,
                "signin": bool(p and p.password_hash),
                "grants": [],
            },
        )
        entry["grants"].append(
            {
                "id": g.id,
                "role": ROLE_LABELS.get(g.role, g.role),
                "where": scope_label(d, g.scope_kind, g.scope_value),
                "revoked": g.revoked,
            }
        )
    scopes: list[tuple[str, str]] = [("global:*", "全部（管理员）")]
    scopes += [
        (f"district:{x}", f"区县 {x}") for x in sorted({c[2] for c in d.communities.values()})
    ]
    scopes += [(f"street:{x}", f"街道 {x}") for x in sorted({c[1] for c in d.communities.values()})]
    scopes += [(f"community:{i}", f"社区 {c[0]}") for i, c in sorted(d.communities.items())]
    scopes += [(f"compound:{c.id}", f"小区 {c.name}") for c in compounds]
    scopes += [(f"building:{b.id}", f"楼栋 {b.label}") for b in buildings]
    return render(
        request,
        "directory.html",
        active="directory",
        buildings=buildings,
        rooms_of=d.rooms_of_building,
        topics={rid: t for rid, (t, _) in d.rooms.items()},
        groups=groups,
        persons=list(persons.values()),
        log=[
            {
                "time": s.local(e.time).strftime("%Y-%m-%d %H:%M"),
                "actor": people[e.actor_id].name
                if e.actor_id in people
                else (e.actor_id or "系统"),
                "action": e.action,
                "detail": e.detail,
            }
            for e in log
        ]
        if v.is_admin
        else [],
        compounds=compounds,
        roles=[(k, ROLE_LABELS[k]) for k in ROLE_SCOPES],
        scopes=scopes,
        notice=request.query.get("done", ""),
    )


async def _admin_change(request: web.Request, fn: Any, *args: Any) -> web.Response:
    v = require_viewer(request)
    require_admin(v)
    s = services_of(request)
    try:
        done = await s.db.run(fn, v.id, s.clock.now(), *args)
    except ActionRefused as e:
        raise bad_input(str(e)) from None
    await s.directory.reload()
    raise web.HTTPFound("/directory?done=" + quote(done))


def add_building(session: Session, actor: str, now: datetime, compound_id: int, name: str) -> str:
    """A new building in a compound."""
    comp = session.get(Compound, compound_id)
    if comp is None:
        raise ActionRefused("没有这个小区")
    exists = session.exec(
        select(Building).where(Building.compound_id == compound_id, Building.name == name)
    ).first()
    if exists is not None:
        raise ActionRefused(f"{comp.name}{name} 已存在")
    session.add(Building(compound_id=compound_id, community_id=comp.community_id, name=name))
    audit(session, now, actor, "building.add", f"新增楼栋 {comp.name}{name}")
    return f"已新增楼栋 {comp.name}{name}"


def bind_room(
    session: Session, actor: str, now: datetime, room_id: str, building_id: int | None
) -> str:
    """Bind a group to a building (or unbind it)."""
    room = session.get(Room, room_id)
    if room is None:
        raise ActionRefused("没有这个群")
    if building_id is not None and session.get(Building, building_id) is None:
        raise ActionRefused("没有这个楼栋")
    before = room.building_id
    room.building_id = building_id
    room.updated_at = now
    session.add(room)
    audit(
        session,
        now,
        actor,
        "room.bind",
        f"群 {room.topic}（{room.id}）楼栋 {before} → {building_id}",
    )
    return f"已更新群 {room.topic} 的绑定"


def grant_role(
    session: Session,
    actor: str,
    now: datetime,
    person_id: str,
    name: str | None,
    role: str,
    scope_kind: str,
    scope_value: str,
) -> str:
    """Give someone a role somewhere (creating the person if new)."""
    if scope_kind not in ROLE_SCOPES.get(role, ()):
        raise ActionRefused(f"{ROLE_LABELS.get(role, role)}不能按这个范围授予")
    person = session.get(Person, person_id)
    if person is None:
        if not name:
            raise ActionRefused("新人员请同时填写姓名")
        person = Person(id=person_id, name=name, created_at=now)
        session.add(person)
        session.flush()
    g = session.exec(
        select(RoleAssignment).where(
            RoleAssignment.person_id == person_id,
            RoleAssignment.role == role,
            RoleAssignment.scope_kind == scope_kind,
            RoleAssignment.scope_value == scope_value,
        )
    ).first()
    if g is None:
        session.add(
            RoleAssignment(
                person_id=person_id, role=role, scope_kind=scope_kind, scope_value=scope_value
            )
        )
    elif g.revoked:
        g.revoked = False
        session.add(g)
    else:
        raise ActionRefused("此人已有这个角色")
    audit(
        session,
        now,
        actor,
        "role.grant",
        f"{person.name}（{person_id}）授予 {ROLE_LABELS.get(role, role)} @ {scope_kind}:{scope_value}",
    )
    return f"已授予 {person.name} {ROLE_LABELS.get(role, role)}"


def revoke_role(session: Session, actor: str, now: datetime, grant_id: int) -> str:
    """Revoke a role (kept as revoked so the config does not bring it back)."""
    g = session.get(RoleAssignment, grant_id)
    if g is None or g.revoked:
        raise ActionRefused("没有这个有效角色")
    if g.person_id == actor and g.role == "admin":
        raise ActionRefused("不能撤销自己的管理员角色")
    g.revoked = True
    session.add(g)
    audit(
        session,
        now,
        actor,
        "role.revoke",
        f"{g.person_id} 撤销 {ROLE_LABELS.get(g.role, g.role)} @ {g.scope_kind}:{g.scope_value}",
    )
    return "已撤销角色"


def set_password(session: Session, actor: str, now: datetime, person_id: str, pw: str) -> str:
    """Set someone's dashboard password (argon2)."""
    person = session.get(Person, person_id)
    if person is None:
        raise ActionRefused("没有这个人员")
    if len(pw) < 8:
        raise ActionRefused("密码至少 8 位")
    person.password_hash = hash_password(pw)
    session.add(person)
    audit(session, now, actor, "person.password", f"为 {person.name}（{person_id}）设置工作台密码")
    return f"已为 {person.name} 设置密码"


async def post_add_building(request: web.Request) -> web.Response:
    """POST /directory/buildings."""
    require_admin(require_viewer(request))
    form = await request.post()
    return await _admin_change(
        request,
        add_building,
        _form_int(form, "compound_id", "小区"),
        _form_str(form, "name", "楼栋名称", 20),
    )


async def post_bind_room(request: web.Request) -> web.Response:
    """POST /directory/rooms."""
    require_admin(require_viewer(request))
    form = await request.post()
    room_id = _form_str(form, "room_id", "群", 200)
    raw = form.get("building_id")
    building_id = None if raw in (None, "", "none") else _form_int(form, "building_id", "楼栋")
    return await _admin_change(request, bind_room, room_id, building_id)


async def post_grant(request: web.Request) -> web.Response:
    """POST /directory/roles."""
    require_admin(require_viewer(request))
    form = await request.post()
    role = _form_str(form, "role", "角色")
    if role not in ROLE_SCOPES:
        raise bad_input("没有这个角色")
    scope = _form_str(form, "scope", "范围", 200)
    kind, _, value = scope.partition(":")
    if not value:
        raise bad_input("请选择范围")
    name = form.get("name")
    return await _admin_change(
        request,
        grant_role,
        _form_str(form, "person_id", "微信号", 100),
        name.strip()[:64] if isinstance(name, str) and name.strip() else None,
        role,
        kind,
        value,
    )


async def post_revoke(request: web.Request) -> web.Response:
    """POST /directory/roles/{id}/revoke."""
    require_admin(require_viewer(request))
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_input("编号应为数字")
    return await _admin_change(request, revoke_role, int(raw))


async def post_password(request: web.Request) -> web.Response:
    """POST /directory/password."""
    require_admin(require_viewer(request))
    form = await request.post()
    pw = form.get("password")
    if not isinstance(pw, str) or len(pw) > 256:
        raise bad_input("请填写密码")
    return await _admin_change(request, set_password, _form_str(form, "person_id", "人员", 100), pw)


def erase_person_data(session: Session, actor: str, now: datetime, person_id: str) -> str:
    """Erase a person's personal data (tickets stay, anonymised)."""
    from handlers.personal_data import erase_person

    if person_id == actor:
        raise ActionRefused("不能删除自己的数据，请另一位管理员操作")
    try:
        done = erase_person(session, person_id, now, actor)
    except LookupError:
        raise ActionRefused("没有这个人员") from None
    except PermissionError:
        raise ActionRefused("此人担任着角色，请先撤销其角色") from None
    return f"已删除个人数据：{done.messages} 条消息已清除，{done.tickets} 张工单保留为匿名"


async def post_erase(request: web.Request) -> web.Response:
    """POST /directory/erase: an admin erases a person's personal data."""
    require_admin(require_viewer(request))
    form = await request.post()
    return await _admin_change(
        request, erase_person_data, _form_str(form, "person_id", "微信号", 100)
    )


def setup(app: web.Application) -> None:
    """Register the directory pages."""
    app.router.add_get("/directory", directory_page)
    app.router.add_post("/directory/buildings", post_add_building)
    app.router.add_post("/directory/rooms", post_bind_room)
    app.router.add_post("/directory/roles", post_grant)
    app.router.add_post("/directory/roles/{id}/revoke", post_revoke)
    app.router.add_post("/directory/password", post_password)
    app.router.add_post("/directory/erase", post_erase)
