"""业主表决: one ballot per household, turnout only in the group, Art. 278 thresholds, export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.__main__ import main as cli
from config.schema import HouseholdConfig, Settings
from handlers.votes import tally
from storage.directory import BuildingInfo, Directory
from storage.models import Ballot, Vote
from tests.clock_helpers import quiet_settings
from tests.harness import Harness, running_bot

ROOM3 = "阳光花园3号楼业主群"
ROOM1 = "阳光花园1号楼业主群"
ROOM5 = "和平新村5号楼业主群"
START_VOTE = (
    "#表决 阳光花园3号楼 是否同意更换单元门禁，费用从公共收益支出 选项 同意/不同意 截止 11-25 18:00"
)


def register() -> list[HouseholdConfig]:
    def hh(room: str, area: float, *owners: str) -> HouseholdConfig:
        return HouseholdConfig(
            compound="阳光花园", building="3号楼", room=room, area=area, owners=list(owners)
        )

    return [
        hh("1-101", 100, "张阿姨"),
        hh("1-102", 80, "李大爷"),
        hh("2-201", 120, "王阿姨", "小刘"),
        hh("2-202", 100, "赵叔"),
    ]


def vote_settings(tmp: Path, **kw: Any) -> Settings:
    return quiet_settings(tmp, households=register(), **kw)


@pytest.fixture
async def vh(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(db_url, vote_settings(tmp_path)) as h:
        yield h


def ballots(session: Any) -> list[tuple[str, int, int]]:
    return sorted((b.household, b.option, b.changes) for b in session.exec(select(Ballot)))


async def test_households_vote_the_group_sees_turnout_and_the_result(
    vh: Harness, tmp_path: Path, db_url: str
) -> None:
    h = vh
    await h.say(None, "赵书记", START_VOTE)
    assert (await h.private("赵书记"))[-1] == (
        "好的，表决 #1 已发到 1 个群，截止11月25日 18:00，届时自动公布结果。"
    )
    assert await h.bot_lines(ROOM3) == [
        "🗳️业主表决 #1：是否同意更换单元门禁，费用从公共收益支出\n1. 同意\n2. 不同意\n"
        "截止：11月25日 18:00。每户一票（截止前可改票），请私信我“#投票 1 选项号”，"
        "或在群里发送“#投票 1 选项号”。投票内容保密，群里只公布参与户数。"
    ]
    assert await h.bot_lines(ROOM1) == []
    await h.say(ROOM3, "张阿姨", "#投票 1 1")
    await h.say(None, "李大爷", "#投票 1 不同意")
    await h.say(None, "李大爷", "#投票 1 同意")  # changes his mind
    await h.say(ROOM3, "小刘", "#投票 1")  # one open vote here: the number is the option
    await h.say(None, "王阿姨", "#投票 1 2")  # the same household: replaces 小刘's
    group = await h.bot_lines(ROOM3)
    assert group[1:] == [
        "@张阿姨\u2005已记录您家对表决 #1 的投票（内容保密），截止前可以改投。"
        "表决 #1 已有 1 户参与投票（登记 4 户）。",
        "@小刘\u2005已记录您家对表决 #1 的投票（内容保密），截止前可以改投。"
        "表决 #1 已有 3 户参与投票（登记 4 户）。",
    ]
    assert (await h.private("李大爷"))[-1] == (
        "已记录您家对表决 #1 的投票（1. 同意），截止前可以改投。表决 #1 已有 2 户参与投票（登记 4 户）。"
    )
    assert await h.db.run(ballots) == [
        ("阳光花园3号楼1-101", 1, 0),
        ("阳光花园3号楼1-102", 1, 1),
        ("阳光花园3号楼2-201", 2, 1),
    ]
    await h.advance(2 * 24 * 60 + 8 * 60)  # past 11-25 18:00
    result = (await h.bot_lines(ROOM3))[-1]
    assert result == (
        "🗳️业主表决 #1：是否同意更换单元门禁，费用从公共收益支出 已截止。\n"
        "参与：3 户/4 户（75.0%），面积 300.0/400.0㎡（75.0%）\n"
        "1. 同意：2 户（66.7%），面积 180.0㎡（60.0%）\n"
        "2. 不同意：1 户（33.3%），面积 120.0㎡（40.0%）\n"
        "（需参与者过半数同意；参与需达三分之二以上）\n"
        "结论：「同意」获得通过"
    )
    assert "张阿姨" not in result and "王阿姨" not in result
    assert (await h.private("赵书记"))[-1].startswith(result)
    await h.say(ROOM3, "赵叔", "#投票 1 1")
    assert (await h.bot_lines(ROOM3))[-1].endswith("表决 #1 已经截止，不能再投票。")

    def archived(session: Any) -> tuple[str, Any]:
        v = session.exec(select(Vote)).one()
        return v.status, v.result

    status, stored = await h.db.run(archived)
    assert status == "closed" and stored["outcome"] == "passed" and stored["voters"] == 3
    # the office's spreadsheet: result and ballots
    if db_url.startswith("sqlite"):
        out = tmp_path / "vote1.xlsx"
        assert (
            cli(
                ["vote-export", "--vote", "1", "--out", str(out), "--db", db_url],
                configure_logging=False,
            )
            == 0
        )
        wb = load_workbook(out)
        assert wb.sheetnames == ["结果", "选票"]
        rows = list(wb["选票"].iter_rows(values_only=True))
        assert rows[0] == ("户", "投票人", "选项号", "选项", "面积（㎡）", "投票时间", "改投次数")
        assert [(r[0], r[1], r[3], r[6]) for r in rows[1:]] == [
            ("阳光花园3号楼1-101", "张阿姨", "同意", 0),
            ("阳光花园3号楼1-102", "李大爷", "同意", 1),
            ("阳光花园3号楼2-201", "王阿姨", "不同意", 1),
        ]
        summary = {r[0]: r[1] for r in wb["结果"].iter_rows(values_only=True) if r and r[0]}
        assert summary["结论"] == "「同意」获得通过"
        assert (
            cli(
                ["vote-export", "--vote", "9", "--out", str(out), "--db", db_url],
                configure_logging=False,
            )
            == 2
        )


async def test_too_few_households_means_no_decision(vh: Harness) -> None:
    h = vh
    await h.say(None, "管理员", START_VOTE)
    await h.say(ROOM3, "张阿姨", "#投票 1 1")
    await h.say(ROOM3, "李大爷", "#投票 1 1")
    await h.advance(3 * 24 * 60)
    assert (await h.bot_lines(ROOM3))[-1].endswith(
        "结论：参与表决的业主未达到规定比例（按人数和面积均需达到），表决不生效"
    )


async def test_a_major_matter_needs_three_quarters_by_area_too(vh: Harness) -> None:
    h = vh
    await h.say(
        None,
        "赵书记",
        "#表决 阳光花园3号楼 是否同意使用维修资金更换电梯 选项 同意、不同意 截止 11月25日18:00 重大",
    )
    for name, choice in (("张阿姨", 1), ("李大爷", 1), ("赵叔", 1), ("王阿姨", 2)):
        await h.say(None, name, f"#投票 1 {choice}")
    await h.advance(3 * 24 * 60)
    result = (await h.bot_lines(ROOM3))[-1]
    # 3 of 4 households (75%) but 280 of 400 m² (70%)
    assert "1. 同意：3 户（75.0%），面积 280.0㎡（70.0%）" in result
    assert result.endswith("结论：没有选项达到通过所需比例，未形成决定")
    assert "重大事项，需参与者四分之三以上同意" in result


async def test_without_a_register_the_result_is_advisory(vh: Harness) -> None:
    h = vh
    await h.say(
        None,
        "管理员",
        "#表决 和平新村5号楼 楼顶晾晒区改造方案 选项 方案A/方案B/都不同意 截止 明天 20:00",
    )
    await h.say(ROOM5, "张大哥", "#投票 1 2")
    await h.say(ROOM5, "刘姐", "#投票 1 方案B")
    await h.advance(2 * 24 * 60)
    result = [x for x in await h.bot_lines(ROOM5) if "已截止" in x][-1]
    assert "参与：2 户\n" in result
    assert result.endswith(
        "结论：未登记业主户数，参与率无法核定，结果仅供参考；参与投票的业主中「方案B」占多数"
    )


@pytest.mark.parametrize(
    ("room", "sender", "text", "answer"),
    [
        (None, "王红管", START_VOTE, "“表决”只有社区书记、管理员可以使用"),
        (
            None,
            "赵书记",
            "#表决 阳光花园3号楼 题目 截止 明天 18:00",
            "需要写明题目、选项和截止时间",
        ),
        (
            None,
            "赵书记",
            "#表决 阳光花园3号楼 题目 选项 同意 截止 明天 18:00",
            "选项应有 2 到 9 个",
        ),
        (None, "赵书记", "#表决 阳光花园3号楼 题目 选项 是/否 截止 昨天", "看不懂截止时间"),
        (None, "赵书记", "#表决 阳光花园3号楼 题目 选项 是/否 截止 2026-11-01 18:00", "已经过了"),
    ],
)
async def test_refused_votes_change_nothing(
    vh: Harness, room: str | None, sender: str, text: str, answer: str
) -> None:
    h = vh
    await h.say(room, sender, text)

    def votes(session: Any) -> int:
        return len(session.exec(select(Vote)).all())

    assert await h.db.run(votes) == 0
    assert answer in (await h.private(sender))[-1]


async def test_only_the_ranges_owners_vote(vh: Harness) -> None:
    h = vh
    await h.say(None, "赵书记", START_VOTE)
    await h.say(ROOM1, "孙大妈", "#投票 1 1")  # another building's group
    assert (await h.bot_lines(ROOM1))[-1].endswith(
        "表决 #1 面向阳光花园3号楼的业主，您不在这个范围内。"
    )
    await h.say(None, "路人甲", "#投票 1 1")  # never wrote in the building's group
    assert (await h.private("路人甲"))[-1] == "表决 #1 面向阳光花园3号楼的业主，您不在这个范围内。"
    await h.say(ROOM3, "张阿姨", "#投票 1 3")
    assert "表决 #1 的选项是：\n1. 同意\n2. 不同意" in (await h.bot_lines(ROOM3))[-1]
    assert await h.db.run(ballots) == []


def _bldg() -> BuildingInfo:
    return BuildingInfo(1, "3号楼", 1, "阳光花园", 1, "华福社区", "燕山街道", "历下区")


def _tally(settings: Settings, major: bool, options: list[int]) -> dict[str, Any]:
    d = Directory(buildings={1: _bldg()})
    now = datetime(2026, 11, 23, tzinfo=UTC)
    vote = Vote(
        title="t",
        options=["同意", "不同意"],
        scope="s",
        building_ids=[1],
        major=major,
        creator_id="x",
        created_at=now,
        deadline=now,
    )
    regs = settings.households
    bs = [
        Ballot(vote_id=1, household=f"h{i}", person_id="p", option=o, area=regs[i].area, time=now)
        for i, o in enumerate(options)
    ]
    return tally(settings, d, vote, bs)


def test_thresholds_at_their_edges(tmp_path: Path) -> None:
    equal = [
        HouseholdConfig(compound="阳光花园", building="3号楼", room=str(i), area=50)
        for i in range(6)
    ]
    s = quiet_settings(tmp_path, households=equal)
    # exactly two thirds take part: enough; exactly half agree: not "more than half"
    assert _tally(s, False, [1, 1, 2, 2])["outcome"] == "not_passed"
    assert _tally(s, False, [1, 1, 2])["outcome"] == "too_few"
    assert _tally(s, False, [1, 1, 1, 2])["outcome"] == "passed"
    # major: exactly three quarters pass
    assert _tally(s, True, [1, 1, 1, 2])["outcome"] == "passed"
    assert _tally(s, True, [1, 1, 1, 2, 2])["outcome"] == "not_passed"


async def test_replying_with_the_option_number_to_the_vote_post_is_a_ballot(vh: Harness) -> None:
    h = vh
    await h.say(None, "赵书记", START_VOTE)
    post = (await h.bot_lines(ROOM3))[0]
    await h.say(ROOM3, "张阿姨", "２", quote=post)
    assert (await h.bot_lines(ROOM3))[-1].startswith(
        "@张阿姨\u2005已记录您家对表决 #1 的投票（内容保密）"
    )
    await h.say(ROOM3, "李大爷", "2")  # no quote: just chat, no ballot
    assert await h.db.run(ballots) == [("阳光花园3号楼1-101", 2, 0)]


async def test_each_evening_the_group_sees_the_turnout_of_private_votes(vh: Harness) -> None:
    h = vh
    await h.say(None, "赵书记", START_VOTE)
    await h.say(ROOM3, "张阿姨", "在的")  # has written in the group
    await h.say(None, "张阿姨", "#投票 1 1")
    await h.say(None, "李大爷", "#投票 1 2")
    await h.advance(10 * 60 + 30)  # 20:30
    daily = [x for x in await h.bot_lines(ROOM3) if "目前已有" in x]
    assert daily == [
        "🗳️业主表决 #1：是否同意更换单元门禁，费用从公共收益支出，目前已有 2 户参与投票"
        "（登记 4 户），截止11月25日 18:00。还没投票的业主请私信我“#投票 1 选项号”。"
    ]
    await h.advance(60)
    assert len([x for x in await h.bot_lines(ROOM3) if "目前已有" in x]) == 1
    await h.advance(24 * 60)  # the next evening once more, then the vote closes
    await h.advance(24 * 60)
    assert len([x for x in await h.bot_lines(ROOM3) if "目前已有" in x]) == 2
