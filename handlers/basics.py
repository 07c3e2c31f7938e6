"""Commands everyone has: 帮助, and 报修 (explicit intake)."""

from __future__ import annotations

from handlers.context import Context
from handlers.intake import open_complaint, unbound_room_reply
from handlers.router import Arg, CommandArgs, Router

router = Router("basics")


def allowed(ctx: Context, roles: frozenset[str] | None) -> bool:
    """Whether the sender holds one of the roles (anywhere); None means everyone."""
    if roles is None:
        return True
    person = ctx.person
    held = person.roles if person else {"resident"}
    return bool(held & roles) or "admin" in held


@router.command(
    "报修",
    aliases=("report", "投诉", "反映"),
    args=(Arg("内容", "text"),),
    usage="#报修 问题描述",
    example="#报修 3号楼2单元楼道灯坏了",
    summary="报告一个问题，直接生成工单",
)
async def report(ctx: Context, args: CommandArgs) -> None:
    """Explicit intake: always a complaint, whatever the classifier thinks."""
    ctx.text = args.text("内容")
    if ctx.room_id is not None and ctx.building is None:
        await ctx.run(lambda _s, tx: tx.send(unbound_room_reply(ctx)))
        return
    u = await ctx.services.understand(ctx.text)
    await open_complaint(ctx, u.as_complaint(ctx.settings.tickets.default_category), explicit=True)


def help_text(ctx: Context, commands: list[tuple[str, str, str, frozenset[str] | None]]) -> str:
    """The commands this sender may use, with one example each."""
    lines = [f"{ctx.settings.bot.name}可用命令（以 # 或 / 开头）："]
    for name, summary, example, roles in commands:
        if allowed(ctx, roles):
            lines.append(f"· {name}：{summary}，例：{example}")
    return "\n".join(lines)
