"""The admin's commands (绑定, 设角色, 解除角色) and 帮助, for every role."""

from __future__ import annotations

from sqlmodel import select

from storage.models import AuditLog, RoleAssignment
from tests.commands_support import ROOM1, ROOM3, complaint, unchanged
from tests.harness import Harness, demo_settings, running_bot


async def test_bind_a_group_to_a_building(sqlite_url: str) -> None:
    s = demo_settings()
    rooms = [r for r in s.rooms if r.id != "room-yg-2"]
    settings = s.model_copy(update={"rooms": rooms})
    async with running_bot(sqlite_url, settings) as h:
        h.sim.topics["room-new"] = "新建的2号楼群"
        await h.say("新建的2号楼群", "张阿姨", "2号楼电梯坏了")
        assert "还没有绑定楼栋" in (await h.bot_lines("新建的2号楼群"))[-1]
        assert "管理员" in await unchanged(h, "新建的2号楼群", "王红管", "#绑定 阳光花园 2号楼")
        assert "用法：#绑定" in await unchanged(h, "新建的2号楼群", "管理员", "#绑定 阳光花园")
        assert "没有找到" in await unchanged(h, "新建的2号楼群", "管理员", "#绑定 阳光花园 9号楼")
        assert "楼栋群里" in await unchanged(h, None, "管理员", "#绑定 阳光花园 2号楼")
        await h.say("新建的2号楼群", "管理员", "/bind 阳光花园 2")
        assert "已绑定到阳光花园2号楼" in (await h.bot_lines("新建的2号楼群"))[-1]
        await h.say("新建的2号楼群", "张阿姨", "2号楼电梯坏了，按钮不亮")
        [t] = await h.tickets()
        assert "@王红管" in (await h.bot_lines("新建的2号楼群"))[-1]
        assert t["room_id"] == "room-new"

        def audits(session):  # type: ignore[no-untyped-def]
            return [a.action for a in session.exec(select(AuditLog))]

        assert await h.db.run(audits) == ["bind_room"]


async def test_set_and_unset_a_role(harness: Harness) -> None:
    h = harness
    await complaint(h)
    assert "管理员" in await unchanged(
        h, ROOM3, "王红管", "#设角色 @小刘 网格员", mentions=["小刘"]
    )
    assert "用法：#设角色" in await unchanged(h, ROOM3, "管理员", "#设角色 小刘 网格员")
    assert "没有这个角色" in await unchanged(
        h, ROOM3, "管理员", "#设角色 @小刘 队长", mentions=["小刘"]
    )
    assert "楼栋的群里" in await unchanged(
        h, None, "管理员", "#设角色 @小刘 网格员", mentions=["小刘"]
    )
    # 小刘 is a resident: cannot claim
    await unchanged(h, ROOM3, "小刘", "#接单 1001")
    await h.say(ROOM3, "管理员", "/setrole @小刘 网格员", mentions=["小刘"])
    assert "已将小刘设为阳光花园3号楼的网格员" in (await h.bot_lines(ROOM3))[-1]
    assert "已经是" in await unchanged(
        h, ROOM3, "管理员", "#设角色 @小刘 网格员", mentions=["小刘"]
    )
    await h.say(ROOM3, "小刘", "#接单 1001")
    assert (await h.ticket(1001))["assignee_id"] == "sim_小刘"
    # the role is for 3号楼 only
    await complaint(h, ROOM1, "王阿姨", "1号楼楼道灯坏了")
    assert "不在您负责" in await unchanged(h, ROOM1, "小刘", "#接单 1002")
    await h.say(ROOM3, "管理员", "#unsetrole @小刘 网格员", mentions=["小刘"])
    assert "已解除小刘的网格员角色（1 处）" in (await h.bot_lines(ROOM3))[-1]
    assert "没有网格员角色" in await unchanged(
        h, ROOM3, "管理员", "#解除角色 @小刘 网格员", mentions=["小刘"]
    )
    await unchanged(h, ROOM3, "小刘", "#进展 1001 在修")

    def grants(session):  # type: ignore[no-untyped-def]
        return [
            (g.role, g.scope_kind, g.revoked)
            for g in session.exec(
                select(RoleAssignment).where(RoleAssignment.person_id == "sim_小刘")
            )
        ]

    assert await h.db.run(grants) == [("grid_worker", "building", True)]


async def test_help_lists_exactly_what_each_role_may_use(harness: Harness) -> None:
    h = harness
    steward_only = ("接单", "方案", "进展", "办结", "转派", "升级", "待办")
    admin_only = ("绑定", "设角色", "解除角色")
    everyone = ("报修", "附议", "撤销", "评价", "我的工单", "工单", "帮助")
    cases = {
        "张阿姨": (everyone, (*steward_only, *admin_only)),
        "王红管": ((*everyone, *steward_only), admin_only),
        "赵书记": ((*everyone, *steward_only), admin_only),
        "管理员": ((*everyone, *steward_only, *admin_only), ()),
    }
    for who, (present, absent) in cases.items():
        await h.say(None, who, "/help")
        text = (await h.private(who))[-1]
        listed = {line[2:].split("：")[0] for line in text.splitlines()[1:]}
        assert set(present) <= listed, who
        assert not (set(absent) & listed), who
        assert all("例：#" in line for line in text.splitlines()[1:])


async def test_help_lists_commands_registered_later(harness: Harness) -> None:
    """Another feature's router included after ours: 帮助 lists it for those who may use it."""
    from handlers.context import Context
    from handlers.router import CommandArgs, Router

    extra = Router("later")

    @extra.command(
        "日报", usage="#日报", example="#日报", summary="现在发日报", roles=("community_secretary",)
    )
    async def digest(ctx: Context, _args: CommandArgs) -> None:
        ctx.say("日报")

    harness.bot.dispatcher.router.include(extra)
    await harness.say(None, "赵书记", "#帮助")
    assert "· 日报：现在发日报，例：#日报" in (await harness.private("赵书记"))[-1]
    await harness.say(None, "张阿姨", "#帮助")
    assert "日报" not in (await harness.private("张阿姨"))[-1]


async def test_every_admin_command_refused_to_everyone_else(harness: Harness) -> None:
    for who in ("张阿姨", "王红管", "李网格", "赵书记", "钱主任", "吴科长"):
        for text in ("#绑定 阳光花园 1号楼", "#设角色 @小刘 网格员", "#解除角色 @王红管 红色管家"):
            answer = await unchanged(harness, ROOM3, who, text, mentions=["小刘"])
            assert "只有管理员可以使用" in answer, (who, text)
