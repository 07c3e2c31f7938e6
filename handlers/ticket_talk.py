"""What people are told about a ticket, and who may act on it.

Status lines go to the group the ticket came from, @-mentioning its reporters (or to the
reporters privately for a ticket reported in private chat); the acting steward gets a short
answer where they wrote when that is somewhere else. Group posts are masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from config.schema import ROLE_LABELS, Settings
from handlers.context import Context, Outbound, Services
from handlers.errors import DomainError, NotAllowed
from handlers.lifecycle import STATUS_LABELS, rung_label
from handlers.privacy import mask_for_group
from storage.directory import BuildingInfo, Directory
from storage.models import Person, Ticket, TicketEvent
from storage.tickets import ticket_by_number, ticket_for_update, ticket_reporters

# the roles that work tickets, each within its area (admin: everywhere)
ACT_ROLES: tuple[str, ...] = (
    "red_steward",
    "grid_worker",
    "community_secretary",
    "street_officer",
    "district_officer",
)
OFFICER_ROLES: frozenset[str] = frozenset(
    {"community_secretary", "street_officer", "district_officer"}
)
# rung -> the role that is told when a ticket reaches it (rung 0 is the property's steward)
RUNG_ROLES: tuple[str, ...] = ("red_steward", *ACT_ROLES[1:])
DEADLINE_LABELS: dict[str, str] = {
    "response": "回应",
    "plan": "方案",
    "reply": "书面答复",
    "solution": "解决",
    "rating": "评价",
}
EVENT_LABELS: dict[str, str] = {
    "created": "报事",
    "seconded": "附议",
    "claimed": "接单",
    "planned": "方案",
    "progress": "进展",
    "resolved": "办结",
    "transferred": "转派",
    "escalated": "升级",
    "rated": "评价",
    "reopened": "重新打开",
    "closed": "关闭",
    "cancelled": "撤销",
}
# events whose actor is a resident: their name is shown only to staff in private chat
RESIDENT_EVENTS = frozenset({"created", "seconded", "rated", "cancelled"})
MAX_HISTORY = 15


def building_of(d: Directory, ticket: Ticket) -> BuildingInfo | None:
    """The building a ticket is about."""
    return d.buildings.get(ticket.building_id) if ticket.building_id is not None else None


def is_admin(d: Directory, person_id: str) -> bool:
    """Whether a person is an admin (everywhere)."""
    return d.holds(person_id, "admin")


def can_act(d: Directory, person_id: str, ticket: Ticket) -> bool:
    """Whether a person's roles reach the ticket's building (admins reach everything).

    A ticket of no building (reported in private chat) is the officers' to route.
    """
    person = d.person(person_id)
    if person is None:
        return False
    building = building_of(d, ticket)
    for g in person.grants:
        if g.role == "admin":
            return True
        if g.role not in ACT_ROLES:
            continue
        if building is None:
            if g.role in OFFICER_ROLES:
                return True
        elif d.grant_covers(g, building):
            return True
    return False


def can_handle_building(d: Directory, person_id: str, building: BuildingInfo) -> bool:
    """Whether a person is a steward or grid worker of a building (a 转派 target)."""
    return d.holds(person_id, "red_steward", building) or d.holds(
        person_id, "grid_worker", building
    )


def who_can(d: Directory, ticket: Ticket) -> str:
    """The people who can act on a ticket, for a refusal."""
    building = building_of(d, ticket)
    if building is None:
        return "社区书记或街道、区县干部"
    names = [f"{p.name}（红色管家）" for p in d.stewards_of(building)]
    names += [f"{p.name}（网格员）" for p in d.holders("grid_worker", building)]
    tail = "所在社区、街道的负责人"
    return f"{'、'.join(names)}或{tail}" if names else tail


def require_actor(ctx: Context, ticket: Ticket) -> None:
    """Refuse (politely, saying who can) someone whose role does not reach the ticket."""
    if can_act(ctx.directory, ctx.sender_id, ticket):
        return
    building = building_of(ctx.directory, ticket)
    where = building.label if building else "未绑定楼栋的"
    raise NotAllowed(
        f"抱歉，工单 #{ticket.number} 是{where}的，不在您负责的范围内。"
        f"可以处理的是：{who_can(ctx.directory, ticket)}。"
    )


def role_label(d: Directory, person_id: str, building: BuildingInfo | None) -> str:
    """The role a person acts in here: 红色管家, 网格员, ... (the one covering the building)."""
    person = d.person(person_id)
    if person is None:
        return ""
    grants = sorted(
        person.grants,
        key=lambda g: ACT_ROLES.index(g.role) if g.role in ACT_ROLES else len(ACT_ROLES),
    )
    for g in grants:
        if building is None or d.grant_covers(g, building):
            return ROLE_LABELS.get(g.role, g.role)
    return ROLE_LABELS.get(grants[0].role, grants[0].role) if grants else ""


def actor_text(ctx: Context, ticket: Ticket) -> str:
    """红色管家王红管: who acted, as the group is told."""
    return f"{role_label(ctx.directory, ctx.sender_id, building_of(ctx.directory, ticket))}{ctx.sender_name}"


def category_label(services: Services, code: str) -> str:
    """The label people see for a category."""
    return services.classifier.categories.get(code, code)


def place_of(d: Directory, ticket: Ticket) -> str:
    """Where the problem is."""
    building = building_of(d, ticket)
    return ticket.location or (building.label if building else "未登记位置")


def fmt_local(services: Services, moment: datetime) -> str:
    """11-23 10:20, local time."""
    return services.local(moment).strftime("%m-%d %H:%M")


def deadline_text(services: Services, ticket: Ticket, now: datetime) -> str:
    """11-23 10:20 回应（已超时）: the next deadline in local time."""
    if ticket.next_deadline_at is None:
        return "无"
    kind = DEADLINE_LABELS.get(ticket.next_deadline_kind or "", ticket.next_deadline_kind or "")
    late = "（已超时）" if ticket.next_deadline_at < now else ""
    return f"{fmt_local(services, ticket.next_deadline_at)} {kind}{late}"


def find_ticket(session: Session, number: int, *, lock: bool = False) -> Ticket:
    """A ticket by number, or a polite 'no such ticket'."""
    ticket = ticket_for_update(session, number) if lock else ticket_by_number(session, number)
    if ticket is None:
        raise DomainError(f"没有找到工单 #{number}，请核对工单号。")
    return ticket


def reporter_mentions(session: Session, ticket: Ticket) -> tuple[list[str], str]:
    """The reporters as mention ids and as '@张阿姨\u2005' text."""
    assert ticket.id is not None
    people = ticket_reporters(session, ticket.id)
    return [p.id for p in people], "".join(f"@{p.name}\u2005" for p in people)


def status_posts(
    session: Session, ticket: Ticket, settings: Settings, key: str, **fields: Any
) -> list[Outbound]:
    """A status line to the ticket's group (masked, reporters @-mentioned) or its reporters."""
    ids, mention = reporter_mentions(session, ticket)
    if ticket.room_id is not None:
        text = settings.template(key).format(mention=mention, number=ticket.number, **fields)
        return [Outbound(mask_for_group(text), room_id=ticket.room_id, mentions=tuple(ids))]
    text = settings.template(key).format(mention="", number=ticket.number, **fields)
    return [Outbound(text, person_id=pid) for pid in ids]


def tell_group(
    ctx: Context,
    session: Session,
    ticket: Ticket,
    key: str,
    action: str,
    send: Callable[[Outbound], None],
    **fields: Any,
) -> None:
    """The status line for the reporters, and the actor's answer if they wrote elsewhere."""
    posts = status_posts(
        session,
        ticket,
        ctx.settings,
        key,
        category=category_label(ctx.services, ticket.category),
        actor=actor_text(ctx, ticket),
        **fields,
    )
    for post in posts:
        if post.room_id is not None and post.room_id != ctx.room_id:
            # nobody wrote in that group just now: at night it waits for the morning
            post.quiet, post.urgent = True, ticket.urgent
        send(post)
    if ctx.room_id is None or ctx.room_id != ticket.room_id:
        send(
            ctx.reply(
                ctx.settings.template("actor_done").format(
                    number=ticket.number, action=action, status=STATUS_LABELS[ticket.status]
                )
            )
        )


def names_of(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Display names by chat id."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.exec(select(Person).where(col(Person.id).in_(sorted(wanted))))
    return {p.id: p.name for p in rows}


def ticket_card(
    services: Services,
    d: Directory,
    ticket: Ticket,
    events: Sequence[TicketEvent],
    names: dict[str, str],
    now: datetime,
    *,
    full: bool,
    staff: bool,
) -> str:
    """工单 N: the ticket and its history. Not full: masked, residents unnamed (for groups)."""
    s = services.settings

    def shown(text: str) -> str:
        return text if full else mask_for_group(text)

    reporter_part = (
        f"，报事人：{names.get(ticket.reporter_id, ticket.reporter_id)}" if full and staff else ""
    )
    head = s.template("ticket_card").format(
        number=ticket.number,
        category=category_label(services, ticket.category),
        status=STATUS_LABELS[ticket.status],
        urgent="【紧急】" if ticket.urgent else ("【重大】" if ticket.major else ""),
        place=shown(place_of(d, ticket)),
        summary=shown(ticket.summary),
        assignee=names.get(ticket.assignee_id or "", "暂无"),
        rung=rung_label(ticket.rung),
        reporters=ticket.reporters_count,
        reporter_part=reporter_part,
        deadline=deadline_text(services, ticket, now),
    )
    lines = [head]
    shown_events = list(events)[-MAX_HISTORY:]
    if len(events) > len(shown_events):
        lines.append(f"（较早的 {len(events) - len(shown_events)} 条略）")
    for e in shown_events:
        if e.kind in RESIDENT_EVENTS and not (full and staff):
            who = "居民"
        else:
            who = names.get(e.actor_id or "", "系统" if e.actor_id is None else "居民")
        label = EVENT_LABELS.get(e.kind, e.kind)
        extra = ""
        data = e.data or {}
        if e.kind == "rated":
            extra = f"：{data.get('rating', '')}"
            if e.detail:
                extra += f"（{shown(e.detail)}）"
        elif e.kind in ("escalated", "reopened"):
            extra = f"到{rung_label(int(str(data.get('rung', ticket.rung))))}"
            if e.detail:
                extra += f"：{shown(e.detail)}"
        elif e.kind == "transferred":
            extra = f"给{names.get(str(data.get('to') or ''), '')}"
        elif e.kind == "closed" and data.get("by") == "auto":
            extra = "（未评价，自动关闭）"
        elif e.detail and e.kind != "created":
            extra = f"：{shown(e.detail)}"
        lines.append(f"· {fmt_local(services, e.time)} {who} {label}{extra}")
    return "\n".join(lines)


def ticket_line(services: Services, d: Directory, ticket: Ticket, now: datetime) -> str:
    """One line of 待办: number, category, status, place, summary, deadline (masked)."""
    summary = ticket.summary if len(ticket.summary) <= 30 else ticket.summary[:29] + "…"
    return services.settings.template("todo_line").format(
        number=ticket.number,
        category=category_label(services, ticket.category),
        status=STATUS_LABELS[ticket.status],
        place=mask_for_group(place_of(d, ticket)),
        summary=mask_for_group(summary),
        deadline=deadline_text(services, ticket, now),
    )


def auto_close_notices(
    session: Session, tickets: Sequence[Ticket], settings: Settings
) -> list[Outbound]:
    """The lines telling reporters their unrated tickets were closed (deterministic keys)."""
    out: list[Outbound] = []
    hours = f"{settings.tickets.auto_close_hours:g}"
    for t in tickets:
        for i, post in enumerate(
            status_posts(session, t, settings, "status_auto_closed", hours=hours)
        ):
            post.key = f"autoclose:{t.id}:{i}"
            post.quiet = True
            out.append(post)
    return out
