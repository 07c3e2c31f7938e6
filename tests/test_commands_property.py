"""Random and malformed command texts: nothing crashes, nothing changes without a valid command."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from handlers.errors import UsageError
from handlers.main import build_router
from handlers.router import Router
from storage.models import Message
from tests.commands_support import ROOM3, ROOM5, complaint, snapshot
from tests.harness import Harness

ROUTER = build_router()
WORDS = sorted({w for c in ROUTER.commands for w in (c.name, *c.aliases)})
READ_ONLY = {"待办", "工单", "我的工单", "帮助"}
SENDERS = ("张阿姨", "李大爷", "王红管", "孙管家", "李网格", "赵书记", "管理员")

prefixes = st.sampled_from(["#", "＃", "/", "／", " # ", "", "＃ ", "#/"])
separators = st.sampled_from(["", " ", "　", "  ", "\u2005", "\t"])
argument = st.one_of(
    st.sampled_from(
        [
            "1001",
            "#1001",
            "１００１",
            "＃１００２",
            "1002",
            "9999999999",
            "-1",
            "0",
            "@王红管",
            "@李网格",
            "@不存在的人",
            "满意",
            "不满意",
            "基本满意 很好",
            "阳光花园 3号楼",
            "网格员",
            "红色管家",
        ]
    ),
    st.text(max_size=12),
)
command_text = st.builds(
    lambda p, w, s, args: f"{p}{w}{s}{' '.join(args)}",
    prefixes,
    st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=4)),
    separators,
    st.lists(argument, max_size=3),
)


def expected_unchanged(router: Router, harness: Harness, sender: str, text: str) -> bool:
    """True when the text is no valid command for this sender: refused, malformed, read-only."""
    inv = router.find(text)
    if inv is None:
        return False  # not a command: in a group the classifier may open a ticket
    d = harness.bot.services.directory.current
    person = d.person_by_name(sender)
    held = person.roles if person else {"resident"}
    roles = inv.command.roles
    if roles is not None and not (held & roles or "admin" in held):
        return True
    try:
        inv.command.parse(inv.raw_args, [])
    except UsageError:
        return True
    return inv.command.name in READ_ONLY


@given(text=st.one_of(command_text, st.text(max_size=40)))
@settings(max_examples=1500, deadline=None)
def test_router_parses_or_gives_a_usage_line(text: str) -> None:
    inv = ROUTER.find(text)
    if inv is None:
        return
    try:
        args = inv.command.parse(inv.raw_args, [])
    except UsageError as e:
        assert e.reply.startswith(("用法：", "格式不对：")) and inv.command.usage in e.reply
        return
    assert args.command == inv.command.name


@given(
    sender=st.sampled_from(SENDERS),
    room=st.sampled_from([ROOM3, ROOM5, None]),
    text=st.one_of(command_text, st.text(max_size=30)),
)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_random_commands_crash_nothing_and_change_nothing_unless_valid(
    harness: Harness, sender: str, room: str | None, text: str
) -> None:
    h = harness
    assume("@红管家" not in text and text.strip())
    if not await h.tickets():
        await complaint(h)
        await complaint(h, who="王阿姨", text="3号楼楼下垃圾堆了三天没人清理")
        await h.say(ROOM3, "王红管", "#接单 1002")
    before = await h.db.run(snapshot)
    unchanged = expected_unchanged(h.bot.dispatcher.router, h, sender, text) or (
        room is None and h.bot.dispatcher.router.find(text) is None
    )
    sent = await h.say(room, sender, text)

    def outcome(session):  # type: ignore[no-untyped-def]
        m = session.exec(select(Message).where(Message.channel_message_id == sent["id"])).one()
        return m.handled, m.intent

    handled, intent = await h.db.run(outcome)
    assert handled and intent != "error", (sender, room, text)
    if unchanged:
        assert await h.db.run(snapshot) == before, (sender, room, text)
