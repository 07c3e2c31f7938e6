"""Questions the bot can answer from what it knows: who to call, fees, the next reception day."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.context import Context
from nlp import Understanding

# topic -> answer; features (the clock's notices, for one) add their own answers here
ConsultAnswer = Callable[[Context, Understanding], Awaitable[str | None]]
ANSWERS: dict[str, ConsultAnswer] = {}


def answers(topic: str) -> Callable[[ConsultAnswer], ConsultAnswer]:
    """Register the answer to a consult topic."""

    def register(fn: ConsultAnswer) -> ConsultAnswer:
        ANSWERS[topic] = fn
        return fn

    return register


def _names(ctx: Context, role: str) -> str:
    if ctx.building is None:
        return "（未登记）"
    people = ctx.directory.holders(role, ctx.building)
    return "、".join(p.name for p in people) or "（未登记）"


@answers("contact")
async def contact(ctx: Context, _u: Understanding) -> str | None:
    """Who is responsible for this building (public, as the rules ask)."""
    return ctx.settings.template("consult_contact").format(
        building=ctx.building.label if ctx.building else "",
        stewards=_names(ctx, "red_steward"),
        grid=_names(ctx, "grid_worker"),
    )


@answers("fees")
async def fees(ctx: Context, _u: Understanding) -> str | None:
    """Where fee rules and public income are disclosed."""
    return ctx.settings.template("consult_fees").format(stewards=_names(ctx, "red_steward"))


async def answer_consult(ctx: Context, u: Understanding) -> None:
    """Answer a question in the group; unknown topics are left to the steward."""
    ctx.intent = "consult"
    fn = ANSWERS.get(u.topic or "")
    text = await fn(ctx, u) if fn else None
    if text is None:
        text = ctx.settings.template("consult_unknown").format(stewards=_names(ctx, "red_steward"))
    ctx.say(text, mention_sender=True)
