"""通知: one notice to many groups — preview, 确认, paced sending, a delivery report.

`#通知 <范围> <内容> [于 <时间>]` in private chat stores a draft and shows a preview;
`#确认` sends it (or schedules it), `#取消` drops it. Every notice is archived with its
per-group deliveries; the clock (bot/jobs/hub.py) sends scheduled ones and reports.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from config.schema import NoticeTemplate, Settings
from handlers import resident
from handlers.context import Context, Outbound, Services, Tx
from handlers.errors import DomainError, UsageError
from handlers.router import Arg, CommandArgs, Router, normalise
from handlers.scope import (
    SPEAKING_ROLES,
    check_reach,
    original_tail,
    parse_moment,
    resolve_scope,
    short_local,
)
from storage import outbox as outbox_q
from storage.models import Notice, NoticeDelivery

router = Router("broadcast")

USAGE = (
    "#通知 范围 内容 [于 2026-11-24 09:00]（范围：阳光花园3号楼、阳光花园、华福社区，"
    "多个用“、”隔开；模板：#通知 阳光花园 停水 时间：11月24日8:00-18:00 原因：管网维修）"
)
_SCHEDULE = re.compile(r"\s(?:于|定时)\s*(\S.*)$")
_NUMBER_FIRST = re.compile(r"^#?\s*\d")


def notice_key(notice_id: int, room_id: str) -> str:
    """The outbox key of one group's copy of a notice."""
    return f"notice:{notice_id}:{room_id}"


def fill_template(tpl: NoticeTemplate, body: str, scope_label: str) -> str:
    """A template's text with the fields the sender gave (时间：… 原因：…); the first unnamed."""
    names = "|".join(re.escape(f) for f in tpl.fields)
    given: dict[str, str] = {}
    lead = body.strip()
    if names:
        parts = re.split(rf"(?:^|\s)({names})\s*[:：=]\s*", body.strip())
        lead = parts[0].strip()
        for name, value in zip(parts[1::2], parts[2::2], strict=True):
            given[name] = value.strip()
    if lead and tpl.fields and tpl.fields[0] not in given:
        given[tpl.fields[0]] = lead
    values = {**tpl.defaults, **given}
    missing = [f for f in tpl.fields if not values.get(f) and f not in tpl.defaults]
    if missing:
        example = " ".join(f"{f}：…" for f in tpl.fields if f not in tpl.defaults)
        raise UsageError(f"#通知 范围 {tpl.name} {example}", f"缺少{'、'.join(missing)}")
    values["范围"] = scope_label
    text = tpl.text
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.strip()


def compose(settings: Settings, body: str, scope_label: str) -> tuple[str, str | None]:
    """The notice text and the template used: `模板 停水 …`, `停水 …`, or plain text."""
    words = body.split(maxsplit=1)
    if words and words[0] == "模板":
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
        tpl = next((t for t in settings.broadcast.templates if words and t.name == words[0]), None)
        if tpl is None:
            raise DomainError(
                (f"没有“{words[0][:10]}”这个模板。" if words else "") + templates_text(settings)
            )
        return fill_template(tpl, words[1] if len(words) > 1 else "", scope_label), tpl.name
    if len(words) > 1:
        for tpl in settings.broadcast.templates:
            if words[0] == tpl.name:
                return fill_template(tpl, words[1], scope_label), tpl.name
    return body.strip(), None


def templates_text(settings: Settings) -> str:
    """The configured templates with their fields."""
    lines = ["可用的通知模板："]
    for t in settings.broadcast.templates:
        fields = " ".join(f"{f}：…" for f in t.fields)
        lines.append(f"· {t.name}：#通知 范围 {t.name} {fields}")
    return "\n".join(lines)


def group_text(text: str) -> str:
    """What the groups see."""
    return text if text.startswith(("【", "📢")) else f"📢{text}"


def deliveries_for(session: Session, notice: Notice, now: datetime) -> list[Outbound]:
    """Archive a notice's deliveries and the messages that carry them (keyed per group)."""
    assert notice.id is not None
    outs = []
    for room in notice.rooms:
        key = notice_key(notice.id, room)
        session.add(NoticeDelivery(notice_id=notice.id, room_id=room, outbox_key=key))
        outs.append(Outbound(group_text(notice.text), room_id=room, quiet=True, key=key))
    notice.status = "sending"
    notice.sent_at = now
    session.add(notice)
    return outs


def draft(services: Services, sender_id: str, scope_text: str, body: str, now: datetime) -> Notice:
    """A notice waiting for 确认 (not yet stored); DomainError says what is wrong."""
    s = services.settings
    directory = services.directory.current
    scope = resolve_scope(directory, scope_text)
    check_reach(directory, sender_id, scope, SPEAKING_ROLES)
    if not scope.rooms:
        raise DomainError(f"{scope.label}还没有绑定的业主群，无法发送。")
    send_at: datetime | None = None
    m = _SCHEDULE.search(body)
    if m:
        send_at = parse_moment(services, m.group(1), now)
        if send_at is None:
            raise UsageError(USAGE, f"看不懂时间“{m.group(1)[:20]}”")
        if send_at <= now:
            raise DomainError(f"定时发送的时间（{short_local(services, send_at)}）已经过了。")
        body = body[: m.start()]
    text, template = compose(s, body, scope.label)
    if not text:
        raise UsageError(USAGE, "缺少内容")
    if len(text) > s.broadcast.max_chars:
        raise DomainError(f"通知太长了（{len(text)}字），请控制在{s.broadcast.max_chars}字以内。")
    return Notice(
        sender_id=sender_id,
        scope=scope.label,
        rooms=list(scope.rooms),
        text=text,
        template=template,
        created_at=now,
        send_at=send_at,
    )


def confirm_notice(
    services: Services, session: Session, notice: Notice, now: datetime
) -> tuple[list[Outbound], str]:
    """A confirmed draft: its group messages now (or scheduled), and what to tell the sender."""
    s = services.settings
    notice.confirmed_at = now
    if notice.send_at is not None and notice.send_at > now:
        notice.status = "scheduled"
        session.add(notice)
        text = s.template("notice_scheduled").format(
            id=notice.id, when=short_local(services, notice.send_at), groups=len(notice.rooms)
        )
        return [], text
    outs = deliveries_for(session, notice, now)
    opens = services.after_quiet_hours(now)
    key = "notice_confirmed" if opens <= now else "notice_confirmed_quiet"
    text = s.template(key).format(
        id=notice.id, groups=len(notice.rooms), when=short_local(services, opens)
    )
    return outs, text


def latest_draft(session: Session, sender_id: str, since: datetime) -> Notice | None:
    """The sender's newest draft still waiting for 确认."""
    return session.exec(
        select(Notice)
        .where(
            Notice.sender_id == sender_id,
            Notice.status == "draft",
            col(Notice.created_at) >= since,
        )
        .order_by(col(Notice.id).desc())
    ).first()


@router.command(
    "通知",
    aliases=("broadcast",),
    args=(Arg("范围", "word"), Arg("内容", "text")),
    usage=USAGE,
    example="#通知 阳光花园 明天上午9点在3号楼前开展义诊 于 明天 07:30",
    summary="向多个楼栋群发通知（私信发送，先预览再确认，可定时）",
    roles=tuple(SPEAKING_ROLES),
)
async def broadcast(ctx: Context, args: CommandArgs) -> None:
    """通知 <范围> <内容>: store a draft and show the preview."""
    if not ctx.is_private:
        raise DomainError("请私信我发送群发通知，预览确认后再发到各群。")
    s = ctx.settings
    body = original_tail(ctx.text, ("通知", "broadcast"), 1, args.text("内容"))
    notice = draft(ctx.services, ctx.sender_id, args.text("范围"), body, ctx.now)

    def work(session: Session, tx: Tx) -> None:
        session.add(notice)
        session.flush()
        send_at = notice.send_at
        when = f"，定时{short_local(ctx.services, send_at)}发送" if send_at else ""
        tx.send(
            ctx.reply(
                s.template("notice_preview").format(
                    id=notice.id,
                    scope=notice.scope,
                    groups=len(notice.rooms),
                    when=when,
                    text=group_text(notice.text),
                    minutes=f"{s.broadcast.confirm_minutes:g}",
                )
            )
        )

    ctx.intent = "command"
    await ctx.run(work)


@router.command(
    "确认",
    aliases=("确认发送", "confirm"),
    usage="#确认",
    example="#确认",
    summary="确认发送刚才预览的通知",
    roles=tuple(SPEAKING_ROLES),
)
async def confirm(ctx: Context, _args: CommandArgs) -> None:
    """确认: the sender's latest draft goes out now, or is scheduled."""
    s = ctx.settings
    since = ctx.now - timedelta(minutes=s.broadcast.confirm_minutes)

    def work(session: Session, tx: Tx) -> None:
        notice = latest_draft(session, ctx.sender_id, since)
        if notice is None:
            raise DomainError("没有等待确认的通知（预览超过有效时间需重新发送“#通知 …”）。")
        outs, text = confirm_notice(ctx.services, session, notice, ctx.now)
        for out in outs:
            tx.send(out)
        tx.send(ctx.reply(text))

    await ctx.run(work)


@router.command(
    "取消通知",
    aliases=("取消",),
    args=(Arg("编号", "optional_text"),),
    usage="#取消（放弃刚才预览的通知）或 #取消通知 编号（取消定时通知）",
    example="#取消",
    summary="放弃待确认的通知（#取消），取消定时通知（#取消通知 编号）；#取消 工单号 同 #撤销",
)
async def cancel_notice(ctx: Context, args: CommandArgs) -> None:
    """取消: drop the latest draft; 取消通知 N: a scheduled one. 取消 <工单号> is 撤销."""
    raw = args.text("编号")
    if _NUMBER_FIRST.match(raw) and "取消通知" not in normalise(ctx.text):
        # "#取消 1024" has always meant 撤销 a ticket
        cmd = next(c for c in resident.router.commands if c.name == "撤销")
        await cmd.handler(ctx, cmd.parse(raw, []))
        return
    number: int | None = None
    usage = "#取消（放弃刚才预览的通知）或 #取消通知 编号（取消定时通知）"
    if raw:
        digits = raw.lstrip("#＃").strip()
        if not (digits.isascii() and digits.isdigit()):
            raise UsageError(usage)
        number = int(digits)
    elif "取消通知" in normalise(ctx.text):
        raise UsageError(usage, "缺少通知编号")  # "#取消通知" names a scheduled notice
    since = ctx.now - timedelta(minutes=ctx.settings.broadcast.confirm_minutes)

    def work(session: Session, tx: Tx) -> None:
        if number is None:
            notice = latest_draft(session, ctx.sender_id, since)
            if notice is None:
                raise DomainError("没有等待确认的通知。要撤销工单请发送“#撤销 工单号”。")
        else:
            notice = session.get(Notice, number)
            if notice is None or notice.sender_id != ctx.sender_id:
                raise DomainError(f"没有找到您发出的通知 #{number}。")
            if notice.status not in ("draft", "scheduled"):
                raise DomainError(f"通知 #{number} 已经发出，无法取消。")
        notice.status = "cancelled"
        session.add(notice)
        tx.send(ctx.reply(ctx.settings.template("notice_cancelled").format(id=notice.id)))

    ctx.intent = "command"
    await ctx.run(work)


@router.command(
    "通知模板",
    usage="#通知模板",
    example="#通知模板",
    summary="查看常用通知模板（停水、停电、消防检查、电梯维保）",
    roles=tuple(SPEAKING_ROLES),
)
async def list_templates(ctx: Context, _args: CommandArgs) -> None:
    """The templates and how to fill them."""
    ctx.say(templates_text(ctx.settings))


# --- the report (used by the clock) --------------------------------------------------------


def report_due(services: Services, notice: Notice) -> datetime:
    """The latest moment a sending notice's report waits for (quiet hours do not count)."""
    assert notice.sent_at is not None
    start = services.after_quiet_hours(notice.sent_at)
    return start + timedelta(minutes=services.settings.broadcast.report_after_minutes)


def report_if_done(
    services: Services, session: Session, notice: Notice, now: datetime
) -> Outbound | None:
    """When every group got it (or the wait is over): archive each delivery and say how it went."""
    assert notice.id is not None
    rows = list(session.exec(select(NoticeDelivery).where(NoticeDelivery.notice_id == notice.id)))
    states = outbox_q.states(session, [d.outbox_key for d in rows])
    done = all(
        (o := states.get(d.outbox_key)) is not None and o.status in ("sent", "merged") for d in rows
    )
    if not done and now < report_due(services, notice):
        return None
    reached = 0
    retried = 0
    failures = []
    topics = services.directory.current.rooms
    for d in rows:
        o = states.get(d.outbox_key)
        if o is not None and o.status in ("sent", "merged"):
            d.status, d.sent_at, d.attempts = "sent", o.sent_at, o.attempts
            reached += 1
            retried += o.attempts > 1
        else:
            d.status = "failed"
            d.attempts = o.attempts if o else 0
            d.error = (o.last_error if o else None) or "未能发出"
            topic = topics.get(d.room_id, (d.room_id, None))[0]
            failures.append(f"\n· {topic}：{d.error}（已尝试{d.attempts}次，仍在重试）")
        session.add(d)
    late = ""
    sent, planned = notice.sent_at, notice.send_at
    if sent is not None and planned is not None and sent - planned > timedelta(minutes=5):
        minutes = int((sent - planned).total_seconds() // 60)
        late = f"（因机器人停机，比计划晚 {minutes} 分钟发出）"
    notice.status = "done"
    notice.reported_at = now
    notice.reached = reached
    session.add(notice)
    text = services.settings.template("notice_report").format(
        id=notice.id,
        reached=reached,
        total=len(rows),
        late=late,
        retried=f"其中 {retried} 个群重试后送达。" if retried else "",
        failures=("未送达：" + "".join(failures)) if failures else "",
    )
    return Outbound(text.strip(), person_id=notice.sender_id, key=f"notice-report:{notice.id}")
