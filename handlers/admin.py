"""The admin's commands: 绑定 (this group to a building), 设角色, 解除角色.

Roles set from a group apply where the group is: a steward or grid worker to its building,
a secretary to its community, officers to its street or district; admin everywhere.
"""

from __future__ import annotations

from sqlmodel import Session, select

from config.schema import ROLE_LABELS
from handlers.context import Context, Tx
from handlers.errors import DomainError, UsageError
from handlers.privacy import mask_for_group
from handlers.router import Arg, CommandArgs, Router
from handlers.tickets import target_person
from storage.directory import BuildingInfo, Directory, RoleGrant, audit
from storage.models import RoleAssignment, Room
from storage.tickets import ensure_person

router = Router("admin")

ADMIN = ("admin",)
# what people type -> role code
ROLE_WORDS: dict[str, str] = {
    "红色管家": "red_steward",
    "红管": "red_steward",
    "管家": "red_steward",
    "steward": "red_steward",
    "red_steward": "red_steward",
    "网格员": "grid_worker",
    "网格": "grid_worker",
    "grid": "grid_worker",
    "grid_worker": "grid_worker",
    "社区书记": "community_secretary",
    "书记": "community_secretary",
    "secretary": "community_secretary",
    "community_secretary": "community_secretary",
    "街道干部": "street_officer",
    "street_officer": "street_officer",
    "区县干部": "district_officer",
    "district_officer": "district_officer",
    "管理员": "admin",
    "admin": "admin",
}
ROLE_USAGE = "#设角色 @某人 红色管家|网格员|社区书记|街道干部|区县干部|管理员"
UNROLE_USAGE = "#解除角色 @某人 红色管家|网格员|社区书记|街道干部|区县干部|管理员"


def find_building(d: Directory, compound: str, name: str) -> BuildingInfo | None:
    """A building by compound and name, forgiving 3 / 3号 / 3栋 for 3号楼."""
    stem = name.removesuffix("号楼").removesuffix("栋").removesuffix("号").removesuffix("楼")
    for candidate in (name, f"{stem}号楼", f"{stem}栋", stem):
        b = d.find_building(compound, candidate)
        if b is not None:
            return b
    return None


@router.command(
    "绑定",
    aliases=("bind",),
    args=(Arg("小区", "word"), Arg("楼栋", "word")),
    usage="#绑定 小区 楼栋",
    example="#绑定 阳光花园 3号楼",
    summary="把本群绑定到一栋楼",
    roles=ADMIN,
)
async def bind(ctx: Context, args: CommandArgs) -> None:
    """绑定 <小区> <楼栋>: this group reports for that building from now on."""
    if ctx.room_id is None:
        raise DomainError("请在要绑定的楼栋群里发送这条命令。")
    compound, name = args.text("小区"), args.text("楼栋")
    building = find_building(ctx.directory, compound, name)
    if building is None:
        known = "、".join(sorted({b.compound for b in ctx.directory.buildings.values()}))
        raise DomainError(
            f"没有找到{mask_for_group(compound + name)}。已登记的小区：{known or '（无）'}。"
        )
    room_id = ctx.room_id

    def work(session: Session, tx: Tx) -> None:
        room = session.get(Room, room_id)
        if room is None:
            room = Room(id=room_id, topic=ctx.room_topic or room_id, updated_at=ctx.now)
        previous = room.building_id
        room.building_id = building.id
        room.updated_at = ctx.now
        session.add(room)
        audit(
            session,
            ctx.now,
            ctx.sender_id,
            "bind_room",
            f"room {room_id} ({room.topic}): building {previous} -> {building.id} {building.label}",
        )
        tx.send(ctx.reply(ctx.settings.template("bound").format(building=building.label)))

    await ctx.run(work)
    await ctx.services.directory.reload()


def _role(word: str, usage: str) -> str:
    role = ROLE_WORDS.get(word.lower())
    if role is None:
        raise UsageError(usage, "没有这个角色")
    return role


def _scope(ctx: Context, role: str) -> tuple[str, str, str]:
    """(scope kind, value, label) for a role set from this chat."""
    if role == "admin":
        return "global", "*", "全部范围"
    b = ctx.building
    if b is None:
        raise DomainError("请在对应楼栋的群里发送：角色按本群绑定的楼栋、社区、街道设置。")
    if role in ("red_steward", "grid_worker"):
        return "building", str(b.id), b.label
    if role == "community_secretary":
        return "community", str(b.community_id), b.community
    if role == "street_officer":
        return "street", b.street, b.street
    return "district", b.district, b.district


@router.command(
    "设角色",
    aliases=("setrole",),
    args=(Arg("对象", "mention"), Arg("角色", "word")),
    usage=ROLE_USAGE,
    example="#设角色 @小刘 网格员",
    summary="给某人设定角色（按本群所在楼栋）",
    roles=ADMIN,
)
async def set_role(ctx: Context, args: CommandArgs) -> None:
    """设角色 @某人 <角色>: grant a role where this group is."""
    role = _role(args.text("角色"), ROLE_USAGE)
    kind, value, place = _scope(ctx, role)

    def work(session: Session, tx: Tx) -> None:
        pid, name = target_person(ctx, session, args)
        ensure_person(session, pid, name, ctx.now)
        row = session.exec(
            select(RoleAssignment).where(
                RoleAssignment.person_id == pid,
                RoleAssignment.role == role,
                RoleAssignment.scope_kind == kind,
                RoleAssignment.scope_value == value,
            )
        ).first()
        label = ROLE_LABELS[role]
        if row is not None and not row.revoked:
            raise DomainError(f"{name}已经是{place}的{label}了。")
        if row is None:
            row = RoleAssignment(person_id=pid, role=role, scope_kind=kind, scope_value=value)
        row.revoked = False
        session.add(row)
        audit(session, ctx.now, ctx.sender_id, "set_role", f"{pid} {role} {kind}:{value}")
        tx.send(
            ctx.reply(ctx.settings.template("role_set").format(name=name, place=place, role=label))
        )

    await ctx.run(work)
    await ctx.services.directory.reload()


@router.command(
    "解除角色",
    aliases=("unsetrole",),
    args=(Arg("对象", "mention"), Arg("角色", "word")),
    usage=UNROLE_USAGE,
    example="#解除角色 @小刘 网格员",
    summary="解除某人的角色（群里：本楼范围；私聊：全部）",
    roles=ADMIN,
)
async def unset_role(ctx: Context, args: CommandArgs) -> None:
    """解除角色 @某人 <角色>: revoke it where this group is (in private chat: everywhere)."""
    role = _role(args.text("角色"), UNROLE_USAGE)
    d = ctx.directory
    building = ctx.building

    def work(session: Session, tx: Tx) -> None:
        pid, name = target_person(ctx, session, args)
        rows = list(
            session.exec(
                select(RoleAssignment).where(
                    RoleAssignment.person_id == pid,
                    RoleAssignment.role == role,
                    RoleAssignment.revoked == False,  # noqa: E712
                )
            )
        )
        if building is not None:
            rows = [
                r
                for r in rows
                if d.grant_covers(RoleGrant(r.role, r.scope_kind, r.scope_value), building)
            ]
        label = ROLE_LABELS[role]
        if not rows:
            where = f"在{building.label}" if building else ""
            raise DomainError(f"{name}{where}没有{label}角色，无需解除。")
        for r in rows:
            r.revoked = True
            session.add(r)
            audit(
                session,
                ctx.now,
                ctx.sender_id,
                "unset_role",
                f"{pid} {role} {r.scope_kind}:{r.scope_value}",
            )
        tx.send(
            ctx.reply(
                ctx.settings.template("role_unset").format(name=name, role=label, count=len(rows))
            )
        )

    await ctx.run(work)
    await ctx.services.directory.reload()
