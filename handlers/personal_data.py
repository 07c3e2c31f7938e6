"""A person's own data: `#我的数据` shows it to them (privately); an admin erases it.

Erasing keeps what the figures need — tickets, their categories, buildings, times and
ratings — and removes what identifies the person: their name, phone and password, the texts
of their messages, and door and phone numbers in the tickets they reported.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from handlers.context import Context, Outbound, Tx
from handlers.errors import DomainError
from handlers.lifecycle import STATUS_LABELS
from handlers.privacy import mask_for_group
from handlers.router import Arg, CommandArgs, Router
from handlers.tickets import target_person
from storage.directory import audit
from storage.models import (
    AuditLog,
    Message,
    OutboxMessage,
    Person,
    PossibleComplaint,
    RoleAssignment,
    Ticket,
    TicketEvent,
    TicketReporter,
)

router = Router("personal_data")

ERASED_NAME = "已删除用户"
ERASED_TEXT = "[已删除]"
SHOWN_MESSAGES = 20
SHOWN_TICKETS = 30


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing a person changed."""

    person_id: str  # the anonymous id their tickets now carry
    messages: int
    tickets: int


def personal_report(session: Session, person_id: str, tz_local: tzinfo) -> str:
    """Everything stored about a person, as a private message."""
    person = session.get(Person, person_id)
    total = len(session.exec(select(Message.id).where(Message.sender_id == person_id)).all())
    recent = list(
        session.exec(
            select(Message)
            .where(Message.sender_id == person_id)
            .order_by(col(Message.time).desc(), col(Message.id).desc())
            .limit(SHOWN_MESSAGES)
        )
    )
    tickets = list(
        session.exec(
            select(Ticket)
            .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
            .where(TicketReporter.person_id == person_id)
            .order_by(col(Ticket.number))
        )
    )
    lines = ["您在红管家保存的个人数据："]
    if person is not None:
        lines.append(f"称呼：{person.name}" + (f"；电话：{person.phone}" if person.phone else ""))
    lines.append(f"消息：共 {total} 条" + (f"，最近 {len(recent)} 条：" if recent else ""))
    for m in recent:
        when = m.time.astimezone(tz_local).strftime("%m-%d %H:%M")
        text = m.text if len(m.text) <= 60 else m.text[:59] + "…"
        lines.append(f"· {when} {text}")
    lines.append(f"工单：共 {len(tickets)} 条" + ("：" if tickets else ""))
    for t in tickets[:SHOWN_TICKETS]:
        summary = t.summary if len(t.summary) <= 30 else t.summary[:29] + "…"
        lines.append(f"· #{t.number} {STATUS_LABELS.get(t.status, t.status)}：{summary}")
    lines.append("如需删除您的个人数据，请联系社区管理员。")
    return "\n".join(lines)


def erase_person(session: Session, person_id: str, now: datetime, actor_id: str | None) -> Erasure:
    """Erase a person's personal data; tickets and figures stay, under an anonymous id.

    Raises LookupError for an unknown person, PermissionError for one who holds a role.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(person_id)
    roles = session.exec(
        select(RoleAssignment).where(
            RoleAssignment.person_id == person_id, col(RoleAssignment.revoked).is_(False)
        )
    ).all()
    if roles:
        raise PermissionError(person_id)
    old_name = person.name
    # the chat id identifies the person too: everything moves to a fresh anonymous id
    anon = f"erased-{uuid.uuid4().hex[:12]}"
    session.add(Person(id=anon, name=ERASED_NAME, created_at=person.created_at, erased=True))
    session.flush()
    for model, name in (
        (Ticket, "reporter_id"),
        (Ticket, "assignee_id"),
        (TicketReporter, "person_id"),
        (RoleAssignment, "person_id"),
        (TicketEvent, "actor_id"),
        (PossibleComplaint, "sender_id"),
        (AuditLog, "actor_id"),
    ):
        column = getattr(model, name)
        session.execute(update(model).where(col(column) == person_id).values({name: anon}))
    messages = session.execute(
        update(Message)
        .where(col(Message.sender_id) == person_id)
        .values(sender_id=anon, text=ERASED_TEXT, sender_name=ERASED_NAME, media_path=None)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(PossibleComplaint)
        .where(col(PossibleComplaint.sender_id) == anon)
        .values(text=ERASED_TEXT)
    )
    # what the bot told them privately repeats their data; group posts named them
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.person_id) == person_id,
            col(OutboxMessage.status).in_(["sent", "merged"]),
        )
        .values(text=ERASED_TEXT, person_id=anon)
    )
    if old_name:
        named = session.exec(
            select(OutboxMessage).where(
                col(OutboxMessage.status).in_(["sent", "merged"]),
                col(OutboxMessage.text).contains(f"@{old_name}"),
            )
        )
        for o in named:
            o.text = o.text.replace(f"@{old_name}", f"@{ERASED_NAME}")
            o.mentions = [anon if m == person_id else m for m in o.mentions]
            session.add(o)
    reported = list(session.exec(select(Ticket).where(Ticket.reporter_id == anon)))
    for t in reported:
        t.summary = mask_for_group(t.summary)
        t.location = mask_for_group(t.location) if t.location else None
        t.rating_comment = ERASED_TEXT if t.rating_comment else None
        session.add(t)
    session.execute(
        update(TicketEvent)
        .where(col(TicketEvent.actor_id) == anon, col(TicketEvent.detail).is_not(None))
        .values(detail=ERASED_TEXT)
    )
    session.delete(person)
    audit(session, now, actor_id, "erase_person", f"personal data of a person erased (now {anon})")
    return Erasure(anon, int(messages or 0), len(reported))


@router.command(
    "我的数据",
    aliases=("mydata",),
    usage="#我的数据",
    example="#我的数据",
    summary="查看红管家保存的我的消息和工单（私信发送）",
)
async def my_data(ctx: Context, _args: CommandArgs) -> None:
    """我的数据: the sender's data, always in private chat."""

    def work(session: Session, tx: Tx) -> None:
        report = personal_report(session, ctx.sender_id, ctx.services.tz)
        if ctx.is_private:
            tx.send(ctx.reply(report))
            return
        tx.send(Outbound(report, person_id=ctx.sender_id))
        tx.send(ctx.reply("您的数据已私信发给您，请查看与红管家的私聊。", mention_sender=True))

    await ctx.run(work)


@router.command(
    "删除数据",
    aliases=("erase",),
    args=(Arg("对象", "mention"),),
    usage="#删除数据 @某人",
    example="#删除数据 @张阿姨",
    summary="删除某人的个人数据（工单保留为匿名）",
    roles=("admin",),
)
async def erase(ctx: Context, args: CommandArgs) -> None:
    """删除数据: an admin erases a person's personal data."""

    def work(session: Session, tx: Tx) -> Erasure:
        pid, name = target_person(ctx, session, args)
        if pid == ctx.sender_id:
            raise DomainError("不能删除自己的数据，请另一位管理员操作。")
        try:
            done = erase_person(session, pid, ctx.now, ctx.sender_id)
        except LookupError:
            raise DomainError(f"红管家没有“{name}”的数据。") from None
        except PermissionError:
            raise DomainError(f"“{name}”担任着角色，请先用 #解除角色 解除后再删除数据。") from None
        tx.send(
            ctx.reply(
                # (the confirmation does not repeat the name it has just erased)
                f"已删除这位居民的个人数据：{done.messages} 条消息已清除，"
                f"{done.tickets} 张工单保留为匿名。",
                mention_sender=True,
            )
        )
        return done

    await ctx.run(work)
    await ctx.services.directory.reload()
