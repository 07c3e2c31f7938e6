"""The steward's and grid worker's commands: 接单, 方案, 进展, 办结, 转派, 升级, 待办, 工单.

Each works on a ticket only within the sender's area (handlers/ticket_talk.require_actor);
every step is a transition of handlers/lifecycle.py, in one transaction with its messages.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from handlers import lifecycle
from handlers.context import Context, Outbound, Tx
from handlers.errors import DomainError, NotAllowed
from handlers.lifecycle import STATUS_LABELS, Act, rung_label
from handlers.router import Arg, CommandArgs, Router
from handlers.ticket_talk import (
    ACT_ROLES,
    RUNG_ROLES,
    building_of,
    can_act,
    can_handle_building,
    category_label,
    deadline_text,
    find_ticket,
    names_of,
    place_of,
    require_actor,
    tell_group,
    ticket_card,
    ticket_line,
)
from storage.directory import Directory, PersonInfo
from storage.models import Ticket
from storage.tickets import is_reporter, open_tickets_of, person_named, ticket_events

router = Router("tickets")

NUMBER = Arg("工单号", "number")
SHOWN_IN_LIST = 20


def act_of(ctx: Context) -> Act:
    """The sender acting now, from this message."""
    return Act(ctx.sender_id, ctx.now, ctx.settings, ctx.message_id)


def escalation_recipients(
    ctx: Context, ticket: Ticket, extra: tuple[str, ...] = ()
) -> list[PersonInfo]:
    """The people of the ticket's rung (plus extra people, not the sender) to be told."""
    d = ctx.directory
    building = building_of(d, ticket)
    people = d.holders(RUNG_ROLES[ticket.rung], building) if building else []
    told = {p.id: p for p in people}
    for pid in extra:
        p = d.person(pid)
        if p is not None:
            told.setdefault(pid, p)
    told.pop(ctx.sender_id, None)
    return list(told.values())


def escalation_text(ctx: Context, ticket: Ticket, reason: str) -> str:
    """The private case summary sent to the people of a new rung."""
    return ctx.settings.template("escalation_notice").format(
        number=ticket.number,
        category=category_label(ctx.services, ticket.category),
        rung=rung_label(ticket.rung),
        reason=reason,
        place=place_of(ctx.directory, ticket),
        summary=ticket.summary,
        reporters=ticket.reporters_count,
        status=STATUS_LABELS[ticket.status],
        deadline=deadline_text(ctx.services, ticket, ctx.now),
    )


@router.command(
    "接单",
    aliases=("claim", "认领"),
    args=(NUMBER,),
    usage="#接单 工单号",
    example="#接单 1024",
    summary="接下工单（首次响应）",
    roles=ACT_ROLES,
)
async def claim(ctx: Context, args: CommandArgs) -> None:
    """接单 N: claim a new ticket (or take over one escalated to one's rung)."""
    number = args.number("工单号")

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        require_actor(ctx, t)
        previous = lifecycle.claim(session, t, act_of(ctx))
        ctx.ticket_id = t.id
        tell_group(ctx, session, t, "status_claimed", "接单", tx.send)
        if previous is not None and previous != ctx.sender_id:
            tx.send(
                Outbound(
                    ctx.settings.template("takeover_notice").format(
                        number=t.number,
                        category=category_label(ctx.services, t.category),
                        actor=ctx.sender_name,
                    ),
                    person_id=previous,
                )
            )

    await ctx.run(work)


WrittenStep = Callable[[Session, Ticket, Act, str], None]


async def written_step(
    ctx: Context, number: int, text: str, step: WrittenStep, template: str, action: str
) -> None:
    """A step that carries the actor's words (方案, 进展, 办结); the group is told."""

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        require_actor(ctx, t)
        step(session, t, act_of(ctx), text)
        ctx.ticket_id = t.id
        tell_group(ctx, session, t, template, action, tx.send, text=text)

    await ctx.run(work)


@router.command(
    "方案",
    aliases=("plan",),
    args=(NUMBER, Arg("内容", "text")),
    usage="#方案 工单号 处理方案",
    example="#方案 1024 今天下午三点前更换灯泡",
    summary="提交处理方案",
    roles=ACT_ROLES,
)
async def plan(ctx: Context, args: CommandArgs) -> None:
    """方案 N 内容: the plan; the group is told."""
    await written_step(
        ctx, args.number("工单号"), args.text("内容"), lifecycle.plan, "status_planned", "提交方案"
    )


@router.command(
    "进展",
    aliases=("progress",),
    args=(NUMBER, Arg("内容", "text")),
    usage="#进展 工单号 进展说明",
    example="#进展 1024 配件已到，明早安装",
    summary="更新处理进展",
    roles=ACT_ROLES,
)
async def progress(ctx: Context, args: CommandArgs) -> None:
    """进展 N 内容: a written update; the group is told."""
    await written_step(
        ctx,
        args.number("工单号"),
        args.text("内容"),
        lifecycle.progress,
        "status_progress",
        "更新进展",
    )


@router.command(
    "办结",
    aliases=("resolve", "done", "完成"),
    args=(NUMBER, Arg("说明", "text")),
    usage="#办结 工单号 办结说明",
    example="#办结 1024 已更换灯泡，恢复照明",
    summary="办结工单，请居民评价",
    roles=ACT_ROLES,
)
async def resolve(ctx: Context, args: CommandArgs) -> None:
    """办结 N 说明: solved; the reporters are asked to rate it."""
    await written_step(
        ctx, args.number("工单号"), args.text("说明"), lifecycle.resolve, "status_resolved", "办结"
    )


def target_person(ctx: Context, session: Session, args: CommandArgs) -> tuple[str, str]:
    """The @-mentioned person: (chat id, name)."""
    name = args.text("对象")
    if args.mention_ids:
        return args.mention_ids[0], name
    p = ctx.directory.person_by_name(name)
    if p is not None:
        return p.id, p.name
    if len(ctx.mentions) == 1:
        return ctx.mentions[0], name
    person = person_named(session, name)
    if person is None:
        raise DomainError(f"找不到“{name}”，请在群里@这位同志。")
    return person.id, person.name


@router.command(
    "转派",
    aliases=("transfer", "转交"),
    args=(NUMBER, Arg("对象", "mention")),
    usage="#转派 工单号 @某人",
    example="#转派 1024 @李网格",
    summary="把工单转给本楼的另一位管家或网格员",
    roles=ACT_ROLES,
)
async def transfer(ctx: Context, args: CommandArgs) -> None:
    """转派 N @某人: only to someone who can act on the ticket's building."""
    number = args.number("工单号")

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        require_actor(ctx, t)
        to_id, to_name = target_person(ctx, session, args)
        d = ctx.directory
        building = building_of(d, t)
        fits = (
            can_handle_building(d, to_id, building)
            if building is not None
            else can_act(d, to_id, t)
        )
        if not fits:
            where = building.label if building else "这张工单"
            raise NotAllowed(
                f"抱歉，{to_name}不是{where}的红色管家或网格员，不能接这张工单。"
                f"可以转给：{_handlers_of(d, t)}。"
            )
        lifecycle.transfer(session, t, act_of(ctx), to_id)
        ctx.ticket_id = t.id
        s = ctx.settings
        tx.send(ctx.reply(s.template("transferred").format(number=t.number, target=to_name)))
        tx.send(
            Outbound(
                s.template("transfer_notice").format(
                    actor=ctx.sender_name,
                    number=t.number,
                    category=category_label(ctx.services, t.category),
                    summary=t.summary,
                    place=place_of(d, t),
                    deadline=deadline_text(ctx.services, t, ctx.now),
                ),
                person_id=to_id,
            )
        )

    await ctx.run(work)


def _handlers_of(d: Directory, ticket: Ticket) -> str:
    building = building_of(d, ticket)
    if building is None:
        return "社区书记或街道、区县干部"
    people = d.stewards_of(building) + d.holders("grid_worker", building)
    return "、".join(dict.fromkeys(p.name for p in people)) or "（本楼暂未登记）"


@router.command(
    "升级",
    aliases=("escalate", "上报"),
    args=(NUMBER, Arg("原因", "text")),
    usage="#升级 工单号 原因",
    example="#升级 1024 需要社区协调维修资金",
    summary="把工单上报到上一级（网格→社区→街道→区县）",
    roles=ACT_ROLES,
)
async def escalate(ctx: Context, args: CommandArgs) -> None:
    """升级 N 原因: one rung up; the people of that rung are told privately."""
    number, reason = args.number("工单号"), args.text("原因")

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        require_actor(ctx, t)
        lifecycle.escalate(session, t, act_of(ctx), reason)
        ctx.ticket_id = t.id
        told = escalation_recipients(ctx, t)
        text = escalation_text(ctx, t, f"{ctx.sender_name}：{reason}")
        for p in told:
            tx.send(Outbound(text, person_id=p.id))
        s = ctx.settings
        building = building_of(ctx.directory, t)
        on_rung = ctx.directory.holders(RUNG_ROLES[t.rung], building) if building else []
        key = "escalated" if on_rung else "escalated_nobody"
        names = "、".join(p.name for p in told) or f"{ctx.sender_name}（您本人）"
        tx.send(
            ctx.reply(s.template(key).format(number=t.number, rung=rung_label(t.rung), names=names))
        )

    await ctx.run(work)


def _ladder_floor(ctx: Context) -> int | None:
    """The lowest ladder rung above the property the sender stands on (admins: 0)."""
    person = ctx.person
    if person is None:
        return None
    if "admin" in person.roles:
        return 0
    levels = [RUNG_ROLES.index(g.role) for g in person.grants if g.role in RUNG_ROLES]
    above = [lvl for lvl in levels if lvl > 0]
    return min(above) if above else None


@router.command(
    "待办",
    aliases=("todo",),
    usage="#待办",
    example="#待办",
    summary="我的未完成工单（最早的在前，附期限）",
    roles=ACT_ROLES,
)
async def todo(ctx: Context, _args: CommandArgs) -> None:
    """待办: open tickets for me, oldest first, with their deadlines in local time."""
    d = ctx.directory
    buildings = d.buildings_visible_to(ctx.sender_id)
    floor = _ladder_floor(ctx)

    def work(session: Session, tx: Tx) -> None:
        rows = open_tickets_of(
            session, assignee_id=ctx.sender_id, building_ids=buildings, min_rung=floor
        )
        s = ctx.settings
        if not rows:
            tx.send(ctx.reply(s.template("todo_empty")))
            return
        lines = [s.template("todo_header").format(count=len(rows))]
        lines += [ticket_line(ctx.services, d, t, ctx.now) for t in rows[:SHOWN_IN_LIST]]
        if len(rows) > SHOWN_IN_LIST:
            lines.append(f"……另有 {len(rows) - SHOWN_IN_LIST} 条，请在工作台查看。")
        tx.send(ctx.reply("\n".join(lines)))

    await ctx.run(work)


@router.command(
    "工单",
    aliases=("show", "查看"),
    args=(NUMBER,),
    usage="#工单 工单号",
    example="#工单 1024",
    summary="查看一张工单及其处理记录",
)
async def show(ctx: Context, args: CommandArgs) -> None:
    """工单 N: the ticket and its history; in a group, residents stay anonymous and masked."""
    number = args.number("工单号")
    d = ctx.directory

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number)
        assert t.id is not None
        staff = can_act(d, ctx.sender_id, t)
        reporter = is_reporter(session, t.id, ctx.sender_id)
        same_building = ctx.building is not None and ctx.building.id == t.building_id
        if not (staff or reporter or same_building):
            raise NotAllowed(
                "抱歉，您只能查看本楼的工单或自己反映的工单；"
                f"工单 #{t.number} 可由{_handlers_of(d, t)}查看。"
            )
        ctx.ticket_id = t.id
        events = ticket_events(session, t.id)
        ids = [t.reporter_id, t.assignee_id or ""]
        for e in events:
            ids.append(e.actor_id or "")
            if e.data and e.data.get("to"):
                ids.append(str(e.data["to"]))
        names = names_of(session, ids)
        card = ticket_card(
            ctx.services,
            d,
            t,
            events,
            names,
            ctx.now,
            full=ctx.is_private and (staff or reporter),
            staff=staff,
        )
        tx.send(ctx.reply(card))

    await ctx.run(work)
