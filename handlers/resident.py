"""The resident's commands: 附议, 撤销, 评价, 我的工单 (报修 lives in handlers/basics.py)."""

from __future__ import annotations

from sqlmodel import Session

from handlers import lifecycle
from handlers.context import Context, Outbound, Tx
from handlers.errors import DomainError, NotAllowed, UsageError
from handlers.lifecycle import RATINGS, STATUS_LABELS, rung_label
from handlers.privacy import mask_for_group
from handlers.router import Arg, CommandArgs, Router
from handlers.ticket_talk import category_label, deadline_text, find_ticket, tell_group
from handlers.tickets import act_of, escalation_recipients, escalation_text
from storage.models import OPEN_STATUSES
from storage.tickets import is_reporter, second_ticket, tickets_reported_by

router = Router("resident")

NUMBER = Arg("工单号", "number")
RATE_USAGE = "#评价 工单号 满意|基本满意|不满意 [意见]"


@router.command(
    "附议",
    aliases=("second", "metoo", "我也是"),
    args=(NUMBER,),
    usage="#附议 工单号",
    example="#附议 1024",
    summary="我也遇到了同样的问题",
)
async def second(ctx: Context, args: CommandArgs) -> None:
    """附议 N: join an open ticket as one more reporter (3 or more make it major)."""
    number = args.number("工单号")
    s = ctx.settings

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        if t.status not in OPEN_STATUSES:
            raise DomainError(
                f"工单 #{t.number} {STATUS_LABELS[t.status]}，不能再附议了；"
                "如果问题还在，请在群里重新反映。"
            )
        if t.assignee_id == ctx.sender_id:
            raise DomainError(f"工单 #{t.number} 由您负责处理，不能附议。")
        if ctx.building is not None and t.building_id is not None:
            if ctx.building.id != t.building_id:
                # another building's group cannot make this one's ticket major
                raise DomainError(
                    f"工单 #{t.number} 不是本楼的，请在该楼的业主群里附议，或私信红管家。"
                )
        ctx.ticket_id = t.id
        added = second_ticket(
            session, t, ctx.sender_id, ctx.message_id, ctx.now, s.tickets.major_reporters
        )
        if added:
            lifecycle.refresh(t, s)  # a ticket turned major faces the written-reply deadline
            session.add(t)
        key = "seconded" if added else "seconded_already"
        text = s.template(key).format(
            mention="",
            number=t.number,
            category=category_label(ctx.services, t.category),
            reporters=t.reporters_count,
        )
        tx.send(ctx.reply(text, mention_sender=True))

    await ctx.run(work)


@router.command(
    "撤销",
    aliases=("cancel", "取消"),
    args=(NUMBER,),
    usage="#撤销 工单号",
    example="#撤销 1024",
    summary="撤销自己反映的工单（办结前）",
)
async def cancel(ctx: Context, args: CommandArgs) -> None:
    """撤销 N: only the reporter, only before it is resolved."""
    number = args.number("工单号")

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        if t.reporter_id != ctx.sender_id:
            raise NotAllowed(f"抱歉，只有反映问题的居民本人可以撤销工单 #{t.number}。")
        if t.status not in OPEN_STATUSES:
            raise lifecycle.refused(t, "，不能撤销")
        assignee = t.assignee_id
        lifecycle.cancel(session, t, act_of(ctx))
        ctx.ticket_id = t.id
        tell_group(ctx, session, t, "status_cancelled", "撤销", tx.send)
        if assignee is not None:
            tx.send(
                Outbound(
                    ctx.settings.template("cancel_notice").format(
                        number=t.number, category=category_label(ctx.services, t.category)
                    ),
                    person_id=assignee,
                )
            )

    await ctx.run(work)


def parse_rating(text: str) -> tuple[str, str]:
    """'基本满意 修得很快' -> ('基本满意', '修得很快'); UsageError when no rating leads."""
    t = text.strip()
    for word in sorted(RATINGS, key=len, reverse=True):
        if t.startswith(word):
            return word, t[len(word) :].strip(" ，,。:：")
    raise UsageError(RATE_USAGE, "评价只能是 满意、基本满意 或 不满意")


@router.command(
    "评价",
    aliases=("rate",),
    args=(NUMBER, Arg("评价", "text")),
    usage=RATE_USAGE,
    example="#评价 1024 满意 修得很及时",
    summary="评价已办结的工单",
)
async def rate(ctx: Context, args: CommandArgs) -> None:
    """评价 N 满意|基本满意|不满意 [意见]: closes it, or reopens it one rung up."""
    number = args.number("工单号")
    rating, comment = parse_rating(args.text("评价"))

    def work(session: Session, tx: Tx) -> None:
        t = find_ticket(session, number, lock=True)
        assert t.id is not None
        if not is_reporter(session, t.id, ctx.sender_id):
            raise NotAllowed(f"抱歉，只有反映这个问题的居民可以评价工单 #{t.number}。")
        assignee = t.assignee_id
        closed = lifecycle.rate(session, t, act_of(ctx), rating, comment)
        ctx.ticket_id = t.id
        if closed:
            tell_group(ctx, session, t, "status_closed_rated", "评价", tx.send, rating=rating)
            return
        tell_group(ctx, session, t, "status_reopened", "评价", tx.send, rung=rung_label(t.rung))
        extra = (assignee,) if assignee else ()
        reason = "居民评价不满意" + (f"：{comment}" if comment else "")
        text = escalation_text(ctx, t, reason)
        for p in escalation_recipients(ctx, t, extra):
            tx.send(Outbound(text, person_id=p.id))

    await ctx.run(work)


@router.command(
    "我的工单",
    aliases=("mine", "我的"),
    usage="#我的工单",
    example="#我的工单",
    summary="查看我反映过的问题和进度",
)
async def mine(ctx: Context, _args: CommandArgs) -> None:
    """我的工单: the sender's tickets, open first, with deadlines in local time."""

    def work(session: Session, tx: Tx) -> None:
        rows = tickets_reported_by(session, ctx.sender_id)
        s = ctx.settings
        if not rows:
            tx.send(ctx.reply(s.template("mine_empty"), mention_sender=True))
            return
        lines = [s.template("mine_header").format(count=len(rows))]
        for t in rows:
            summary = t.summary if len(t.summary) <= 30 else t.summary[:29] + "…"
            if not ctx.is_private:
                summary = mask_for_group(summary)
            part = (
                f"｜期限 {deadline_text(ctx.services, t, ctx.now)}"
                if t.status in OPEN_STATUSES
                else ""
            )
            lines.append(
                s.template("mine_line").format(
                    number=t.number,
                    category=category_label(ctx.services, t.category),
                    status=STATUS_LABELS[t.status],
                    summary=summary,
                    deadline_part=part,
                )
            )
        tx.send(ctx.reply("\n".join(lines), mention_sender=True))

    await ctx.run(work)
