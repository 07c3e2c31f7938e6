"""Who may do what: every command that needs a role or an area, against every role.

A second community (光明社区, 幸福里1号楼) gives the outsiders: a steward and a secretary whose
area does not reach 阳光花园3号楼, where ticket #1001 is. Every refused cell leaves storage
unchanged and answers once; the matrix must name every command (a new one fails the test).
"""

from __future__ import annotations

from pathlib import Path

from config.schema import OutboxConfig, Settings, load_settings
from handlers.main import build_router
from tests.commands_support import ROOM3, unchanged
from tests.harness import DEMO, running_bot

ROOM_XF = "幸福里1号楼业主群"
EXTRA = """
[[communities]]
name = "光明社区"
street = "燕山街道"
district = "历下区"

[[communities.compounds]]
name = "幸福里"
buildings = ["1号楼"]

[[rooms]]
id = "room-xf-1"
topic = "幸福里1号楼业主群"
compound = "幸福里"
building = "1号楼"

[[people]]
id = "wxid_majia"
name = "马管家"
roles = [{ role = "red_steward", compound = "幸福里" }]

[[people]]
id = "wxid_liushuji"
name = "刘书记"
roles = [{ role = "community_secretary", community = "光明社区" }]
"""

# actor -> (name, the group they write from)
ACTORS = {
    "reporter": ("张阿姨", ROOM3),
    "neighbour": ("李大爷", ROOM3),
    "steward": ("王红管", ROOM3),
    "steward_elsewhere": ("马管家", ROOM_XF),
    "grid": ("李网格", ROOM3),
    "secretary": ("赵书记", ROOM3),
    "secretary_elsewhere": ("刘书记", ROOM_XF),
    "street": ("钱主任", ROOM3),
    "district": ("吴科长", ROOM3),
    "admin": ("管理员", ROOM3),
}
# an admin passes every role check and reaches every building (handlers/basics.allowed)
STAFF_HERE = {"steward", "grid", "secretary", "street", "district", "admin"}
OFFICERS = {"secretary", "secretary_elsewhere", "street", "district", "admin"}
EVERYONE = set(ACTORS)

# command -> (text, who may get past role and area; everyone else is refused)
MATRIX: dict[str, tuple[str, set[str]]] = {
    "接单": ("#接单 1001", STAFF_HERE),
    "方案": ("#方案 1001 明天更换", STAFF_HERE),
    "进展": ("#进展 1001 配件已到", STAFF_HERE),
    "办结": ("#办结 1001 已修好", STAFF_HERE),
    "转派": ("#转派 1001 @李网格", STAFF_HERE),
    "升级": ("#升级 1001 需要协调", STAFF_HERE),
    "待办": ("#待办", STAFF_HERE | {"steward_elsewhere", "secretary_elsewhere"}),
    # only the reporter withdraws, or staff of the building (admins included)
    "撤销": ("#撤销 1001", {"reporter"}),
    "评价": ("#评价 1001 满意", set()),  # nobody yet: it is not resolved
    "附议": ("#附议 1001", EVERYONE - {"reporter", "steward_elsewhere", "secretary_elsewhere"}),
    "工单": ("#工单 1001", EVERYONE - {"steward_elsewhere", "secretary_elsewhere"}),
    "日报": ("#日报", OFFICERS),
    "统计": ("#统计", OFFICERS),
    "逾期": ("#逾期", OFFICERS),
    "绑定": ("#绑定 阳光花园 3号楼", {"admin"}),
    "设角色": ("#设角色 @李大爷 网格员", {"admin"}),
    "解除角色": ("#解除角色 @李网格 网格员", {"admin"}),
    "删除数据": ("#删除数据 @李大爷", {"admin"}),
}
OPEN_TO_ALL = {"帮助", "报修", "我的工单", "我的数据"}  # no role, no ticket: nothing to refuse
# the hub's commands: their refusals (and that a refusal changes nothing) are tested in
# tests/test_hub_broadcast.py and tests/test_hub_votes.py, by range as well as by role
HUB_COMMANDS = {"通知", "确认", "取消通知", "通知模板", "表决", "投票"}
MENTIONS = {
    "转派": ["李网格"],
    "设角色": ["李大爷"],
    "解除角色": ["李网格"],
    "删除数据": ["李大爷"],
}


def two_communities(tmp: Path) -> Settings:
    """The demo plus 光明社区, with no pacing (the frozen clock would hold answers back)."""
    toml = tmp / "two.toml"
    toml.write_text(DEMO.read_text(encoding="utf-8") + EXTRA, encoding="utf-8")
    unpaced = OutboxConfig(per_room_per_minute=10_000, per_account_per_minute=10_000)
    return load_settings(toml).model_copy(update={"outbox": unpaced})


def test_the_matrix_names_every_command() -> None:
    assert {c.name for c in build_router().commands} == set(MATRIX) | OPEN_TO_ALL | HUB_COMMANDS


async def test_every_role_against_every_command(sqlite_url: str, tmp_path: Path) -> None:
    async with running_bot(sqlite_url, two_communities(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        await h.say(ROOM3, "李大爷", "今天天气不错")
        await h.say(ROOM_XF, "小周", "1号楼电梯坏了，停在三楼")  # #1002 in 光明社区
        refused_cells = 0
        for command, (text, allowed) in MATRIX.items():
            for actor, (name, room) in ACTORS.items():
                if actor in allowed:
                    continue
                mentions = MENTIONS.get(command, [])
                try:
                    reply = await unchanged(h, room, name, text, mentions=mentions)
                except AssertionError as e:
                    raise AssertionError(f"{command} by {actor}: {e}") from e
                assert reply.startswith(f"@{name}"), (command, actor, reply)
                refused_cells += 1
        assert refused_cells > 80
        # the read-only cells that are allowed answer without refusing
        for command in ("工单", "待办", "日报", "统计", "逾期"):
            text, allowed = MATRIX[command]
            for actor in sorted(allowed):
                name, room = ACTORS[actor]
                before = len(await h.bot_lines(room))
                await h.say(room, name, text)
                reply = (await h.bot_lines(room))[before]
                assert "抱歉" not in reply and "只有" not in reply, (command, actor, reply)


async def test_an_officer_sees_only_their_area(sqlite_url: str, tmp_path: Path) -> None:
    async with running_bot(sqlite_url, two_communities(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        await h.say(ROOM_XF, "小周", "1号楼电梯坏了，停在三楼")
        await h.advance(60 * 30)  # both overdue
        for command in ("#逾期", "#统计", "#待办"):
            await h.say(None, "刘书记", command)
            mine = (await h.private("刘书记"))[-1]
            await h.say(None, "赵书记", command)
            theirs = (await h.private("赵书记"))[-1]
            assert "1001" not in mine and "阳光花园" not in mine, (command, mine)
            assert "1002" not in theirs and "幸福里" not in theirs, (command, theirs)
        # the street officer above both sees both
        await h.say(None, "钱主任", "#逾期")
        both = (await h.private("钱主任"))[-1]
        assert "1001" in both and "1002" in both


async def test_a_ticket_cannot_be_seconded_from_another_buildings_group(
    sqlite_url: str, tmp_path: Path
) -> None:
    # 附议 from 幸福里's group counted toward 阳光花园3号楼's ticket (and could make it major)
    async with running_bot(sqlite_url, two_communities(tmp_path)) as h:
        await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
        reply = await unchanged(h, ROOM_XF, "小周", "#附议 1001")
        assert "不是本楼的" in reply
        await h.say(None, "小周", "#附议 1001")  # privately it still counts
        assert (await h.ticket(1001))["reporters"] == 2
