"""The whole bot's router: every feature's commands, and 帮助 that lists them."""

from __future__ import annotations

from handlers import (
    admin,
    basics,
    broadcast,
    notices,
    officers,
    personal_data,
    resident,
    tickets,
    votes,
)
from handlers.basics import help_text
from handlers.context import Context
from handlers.router import CommandArgs, Router


def build_router() -> Router:
    """All commands, in the order 帮助 lists them."""
    root = Router("root")
    root.include(basics.router)
    root.include(resident.router)
    root.include(tickets.router)
    root.include(officers.router)
    root.include(admin.router)
    root.include(personal_data.router)
    root.include(votes.router)
    root.include(broadcast.router)  # last: its 取消 (no number) is the notice's
    assert notices.ANSWERS_REGISTERED  # the consult answers for reception_day, five_listen

    @root.command(
        "帮助", aliases=("help", "菜单"), usage="#帮助", example="#帮助", summary="查看我能用的命令"
    )
    async def show_help(ctx: Context, _args: CommandArgs) -> None:
        """List exactly the commands the sender may use."""
        ctx.say(help_text(ctx, [(c.name, c.summary, c.example, c.roles) for c in root.commands]))

    return root
