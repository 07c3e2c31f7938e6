"""业主表决: a vote over some buildings, one ballot per household, the result at the deadline.

`#表决 范围 题目 选项 A/B/C 截止 时间 [重大]` (admin, community secretary in their community);
`#投票 N 选项号` (residents of the range, in private chat or the group). The group sees
turnout, never who voted what. Participation and approval count households and, where the
register gives floor areas, area (Civil Code Art. 278 thresholds by default).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlmodel import Session, col, select

from config.schema import HouseholdConfig, Settings
from handlers.context import Context, Outbound, Services, Tx
from handlers.errors import DomainError, UsageError
from handlers.router import Arg, CommandArgs, Router
from handlers.scope import check_reach, original_tail, parse_moment, resolve_scope, short_local
from storage.directory import Directory
from storage.models import Ballot, Message, Vote

router = Router("votes")

VOTE_ROLES = frozenset({"admin", "community_secretary"})
USAGE = "#表决 范围 题目 选项 同意/不同意/弃权 截止 2026-11-30 18:00 [重大]"
VOTE_USAGE = "#投票 表决编号 选项号（只有一个进行中的表决时可省略编号）"
_SPEC = re.compile(
    r"^(?P<title>.+?)\s*选项\s*[:：]?\s*(?P<opts>.+?)\s*截止\s*[:：]?\s*(?P<deadline>.+?)"
    r"(?:\s+(?P<major>重大(?:事项)?))?$"
)
_OPTION_SEP = re.compile(r"[/／、，,;；|\s]+")


def household_of(
    settings: Settings, directory: Directory, vote: Vote, person_id: str, name: str
) -> tuple[str, float | None] | None:
    """The registered household in the vote's range a person owns: (label, area)."""
    for hh in settings.households:
        if person_id in hh.owners or name in hh.owners:
            b = directory.find_building(hh.compound, hh.building)
            if b is not None and b.id in vote.building_ids:
                return household_label(hh), hh.area
    return None


def household_label(hh: HouseholdConfig) -> str:
    """阳光花园3号楼2-301."""
    return f"{hh.compound}{hh.building}{hh.room}"


def register_of(settings: Settings, directory: Directory, vote: Vote) -> list[HouseholdConfig]:
    """The registered households in a vote's range."""
    out = []
    for hh in settings.households:
        b = directory.find_building(hh.compound, hh.building)
        if b is not None and b.id in vote.building_ids:
            out.append(hh)
    return out


def _rooms(directory: Directory, vote: Vote) -> list[str]:
    return sorted(r for bid in vote.building_ids for r in directory.rooms_of_building(bid))


def options_text(vote: Vote) -> str:
    """1. 同意  2. 不同意 …"""
    return "\n".join(f"{i}. {o}" for i, o in enumerate(vote.options, 1))


@router.command(
    "表决",
    aliases=("发起表决",),
    args=(Arg("范围", "word"), Arg("内容", "text")),
    usage=USAGE,
    example="#表决 阳光花园3号楼 是否同意加装电梯 选项 同意/不同意 截止 11-30 18:00 重大",
    summary="发起业主表决（一户一票，截止时自动公布结果）",
    roles=tuple(VOTE_ROLES),
)
async def start_vote(ctx: Context, args: CommandArgs) -> None:
    """表决: open a vote and post it to the range's groups."""
    s = ctx.settings
    scope = resolve_scope(ctx.directory, args.text("范围"))
    check_reach(ctx.directory, ctx.sender_id, scope, VOTE_ROLES)
    m = _SPEC.match(original_tail(ctx.text, ("表决", "发起表决"), 1, args.text("内容")))
    if not m:
        raise UsageError(USAGE, "需要写明题目、选项和截止时间")
    options = [o for o in _OPTION_SEP.split(m.group("opts")) if o]
    if not 2 <= len(options) <= s.votes.max_options:
        raise UsageError(USAGE, f"选项应有 2 到 {s.votes.max_options} 个")
    if len(set(options)) != len(options):
        raise UsageError(USAGE, "选项有重复")
    deadline = parse_moment(ctx.services, m.group("deadline"), ctx.now)
    if deadline is None:
        raise UsageError(USAGE, f"看不懂截止时间“{m.group('deadline')[:20]}”")
    if deadline <= ctx.now:
        raise DomainError(f"截止时间（{short_local(ctx.services, deadline)}）已经过了。")
    if not scope.rooms:
        raise DomainError(f"{scope.label}还没有绑定的业主群。")
    title = m.group("title").strip()

    def work(session: Session, tx: Tx) -> None:
        vote = Vote(
            title=title,
            options=options,
            scope=scope.label,
            building_ids=[b.id for b in scope.buildings],
            major=bool(m.group("major")),
            creator_id=ctx.sender_id,
            created_at=ctx.now,
            deadline=deadline,
        )
        session.add(vote)
        session.flush()
        assert vote.id is not None
        text = s.template("vote_started").format(
            id=vote.id,
            title=title + ("（重大事项）" if vote.major else ""),
            options=options_text(vote),
            deadline=short_local(ctx.services, deadline),
        )
        for room in scope.rooms:
            tx.send(Outbound(text, room_id=room, quiet=True, key=f"vote:{vote.id}:start:{room}"))
        tx.send(
            ctx.reply(
                f"好的，表决 #{vote.id} 已发到 {len(scope.rooms)} 个群，"
                f"截止{short_local(ctx.services, deadline)}，届时自动公布结果。"
            )
        )

    ctx.intent = "command"
    await ctx.run(work)


@router.command(
    "投票",
    aliases=("vote",),
    args=(Arg("内容", "text"),),
    usage=VOTE_USAGE,
    example="#投票 1 1",
    summary="参加业主表决（每户一票，截止前可改投；私信我投票更保密）",
)
async def cast(ctx: Context, args: CommandArgs) -> None:
    """投票 [N] 选项: record (or replace) the household's ballot."""
    words = args.text("内容").replace("#", " ").split()
    s = ctx.settings

    def work(session: Session, tx: Tx) -> None:
        if len(words) == 2 and words[0].isdigit():
            vote = session.get(Vote, int(words[0]))
            choice = words[1]
            if vote is None:
                raise DomainError(f"没有表决 #{words[0]}。")
        elif len(words) == 1:
            vote = _only_open_vote(ctx, session)
            choice = words[0]
        else:
            raise UsageError(VOTE_USAGE)
        assert vote.id is not None
        if vote.status != "open" or ctx.now >= vote.deadline:
            raise DomainError(f"表决 #{vote.id} 已经截止，不能再投票。")
        option = _option(vote, choice)
        household = household_of(s, ctx.directory, vote, ctx.sender_id, ctx.sender_name)
        if household is None:
            if not _lives_in(ctx, session, vote):
                raise DomainError(f"表决 #{vote.id} 面向{vote.scope}的业主，您不在这个范围内。")
            household = (f"chat:{ctx.sender_id}", None)
        label, area = household
        ballot = session.exec(
            select(Ballot).where(Ballot.vote_id == vote.id, Ballot.household == label)
        ).first()
        if ballot is None:
            ballot = Ballot(
                vote_id=vote.id,
                household=label,
                person_id=ctx.sender_id,
                option=option,
                area=area,
                time=ctx.now,
            )
        else:
            ballot.option, ballot.person_id, ballot.time = option, ctx.sender_id, ctx.now
            ballot.changes += 1
        session.add(ballot)
        session.flush()
        voted = len(session.exec(select(Ballot.id).where(Ballot.vote_id == vote.id)).all())
        total = len(register_of(s, ctx.directory, vote))
        turnout = s.template("vote_turnout").format(
            id=vote.id, voted=voted, of_total=f"（登记 {total} 户）" if total else ""
        )
        choice_text = f"{option}. {vote.options[option - 1]}" if ctx.is_private else "内容保密"
        recorded = s.template("vote_recorded").format(id=vote.id, choice=choice_text)
        tx.send(ctx.reply(f"{recorded}{turnout}", mention_sender=True))

    ctx.intent = "command"
    await ctx.run(work)


def _only_open_vote(ctx: Context, session: Session) -> Vote:
    votes = list(session.exec(select(Vote).where(Vote.status == "open")))
    if ctx.building is not None:
        votes = [v for v in votes if ctx.building.id in v.building_ids]
    if len(votes) == 1:
        return votes[0]
    if not votes:
        raise DomainError("目前没有进行中的表决。")
    ids = "、".join(f"#{v.id}" for v in votes)
    raise UsageError(VOTE_USAGE, f"有多个进行中的表决（{ids}），请写明编号")


def _option(vote: Vote, choice: str) -> int:
    if choice.isdigit() and 1 <= int(choice) <= len(vote.options):
        return int(choice)
    if choice in vote.options:
        return vote.options.index(choice) + 1
    raise DomainError(f"表决 #{vote.id} 的选项是：\n{options_text(vote)}\n请发送选项号。")


def _lives_in(ctx: Context, session: Session, vote: Vote) -> bool:
    """A resident of the range: writing in one of its groups, or having written in one."""
    if ctx.building is not None:
        return ctx.building.id in vote.building_ids
    rooms = _rooms(ctx.directory, vote)
    found = session.exec(
        select(Message.id).where(
            Message.sender_id == ctx.sender_id, col(Message.room_id).in_(rooms)
        )
    ).first()
    return found is not None


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionTally:
    """One option's ballots: households and area."""

    option: str
    count: int
    area: float
    share_count: float
    share_area: float | None


def _frac(x: float) -> Fraction:
    return Fraction(x).limit_denominator(1000)


def tally(
    settings: Settings, directory: Directory, vote: Vote, ballots: list[Ballot]
) -> dict[str, Any]:
    """The result: participation and each option by head count and by area, and the verdict."""
    cfg = settings.votes
    register = register_of(settings, directory, vote)
    voters = len(ballots)
    # owners missing from the register but voting count as households too
    extra = sum(1 for b in ballots if b.household.startswith("chat:"))
    total = len(register) + extra if register else None
    with_area = bool(register) and all(h.area for h in register)
    total_area = sum(h.area or 0 for h in register) if with_area else None
    voted_area = sum(b.area or 0 for b in ballots) if with_area else None
    options = []
    for i, name in enumerate(vote.options, 1):
        mine = [b for b in ballots if b.option == i]
        area = sum(b.area or 0 for b in mine)
        options.append(
            OptionTally(
                name,
                len(mine),
                area,
                len(mine) / voters if voters else 0.0,
                (area / voted_area) if voted_area else None,
            )
        )
    part_count = voters / total if total else None
    part_area = (voted_area / total_area) if (total_area and voted_area is not None) else None
    need = _frac(cfg.participation_at_least)
    enough = (
        part_count is not None
        and Fraction(voters, total or 1) >= need
        and (part_area is None or _frac(part_area) >= need)
    )
    passed: str | None = None
    for o in options:
        by_count = Fraction(o.count, voters) if voters else Fraction(0)
        by_area = _frac(o.share_area) if o.share_area is not None else None
        if vote.major:
            ok = by_count >= _frac(cfg.major_at_least) and (
                by_area is None or by_area >= _frac(cfg.major_at_least)
            )
        else:
            ok = by_count > _frac(cfg.ordinary_more_than) and (
                by_area is None or by_area > _frac(cfg.ordinary_more_than)
            )
        if ok and voters:
            passed = o.option
            break
    if total is None:
        verdict = "未登记业主户数，参与率无法核定，结果仅供参考" + (
            f"；参与投票的业主中「{passed}」占多数" if passed else ""
        )
        outcome = "advisory"
    elif not enough:
        verdict = "参与表决的业主未达到规定比例（按人数和面积均需达到），表决不生效"
        outcome = "too_few"
    elif passed:
        verdict = f"「{passed}」获得通过"
        outcome = "passed"
    else:
        verdict = "没有选项达到通过所需比例，未形成决定"
        outcome = "not_passed"
    return {
        "voters": voters,
        "households": total,
        "area_total": total_area,
        "area_voted": voted_area,
        "participation_count": part_count,
        "participation_area": part_area,
        "options": [
            {
                "option": o.option,
                "count": o.count,
                "area": o.area if with_area else None,
                "share_count": o.share_count,
                "share_area": o.share_area,
            }
            for o in options
        ],
        "major": vote.major,
        "passed": passed if outcome == "passed" else None,
        "outcome": outcome,
        "verdict": verdict,
    }


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def result_text(settings: Settings, vote: Vote, result: dict[str, Any]) -> str:
    """What the groups see at the deadline: counts and shares, never names."""
    lines = []
    total = result["households"]
    part = f"参与：{result['voters']} 户" + (
        f"/{total} 户（{_pct(result['participation_count'])}）" if total else ""
    )
    if result["area_total"]:
        part += (
            f"，面积 {result['area_voted']:.1f}/{result['area_total']:.1f}㎡"
            f"（{_pct(result['participation_area'])}）"
        )
    lines.append(part)
    for i, o in enumerate(result["options"], 1):
        line = f"{i}. {o['option']}：{o['count']} 户（{_pct(o['share_count'])}）"
        if o["area"] is not None:
            line += f"，面积 {o['area']:.1f}㎡（{_pct(o['share_area'])}）"
        lines.append(line)
    rule = "重大事项，需参与者四分之三以上同意" if vote.major else "需参与者过半数同意"
    lines.append(f"（{rule}；参与需达三分之二以上）")
    return settings.template("vote_result").format(
        id=vote.id, title=vote.title, lines="\n".join(lines), verdict=result["verdict"]
    )


def close_votes(services: Services, session: Session, now: datetime) -> list[Outbound]:
    """Close every open vote whose deadline has come: archive the result, post it."""
    directory = services.directory.current
    outs: list[Outbound] = []
    due = session.exec(
        select(Vote).where(Vote.status == "open", col(Vote.deadline) <= now).with_for_update()
    ).all()
    for vote in due:
        assert vote.id is not None
        ballots = list(session.exec(select(Ballot).where(Ballot.vote_id == vote.id)))
        result = tally(services.settings, directory, vote, ballots)
        vote.status, vote.closed_at, vote.result = "closed", now, result
        session.add(vote)
        text = result_text(services.settings, vote, result)
        for room in _rooms(directory, vote):
            outs.append(
                Outbound(text, room_id=room, quiet=True, key=f"vote:{vote.id}:result:{room}")
            )
        outs.append(
            Outbound(
                text
                + f"\n结果与选票明细可在工作台“通知与表决”页导出（/downloads/vote/{vote.id}.xlsx）。",
                person_id=vote.creator_id,
                key=f"vote:{vote.id}:result:creator",
            )
        )
    return outs


_QUOTED_VOTE = re.compile(r"业主表决\s*#\s*(\d{1,9})")
_REPLY_CHOICE = re.compile(r"^\s*(\d{1,2})\s*$")


def vote_reply(text: str, quoted_text: str | None) -> tuple[int, str] | None:
    """A reply to the vote's post with an option number: (vote, option), else None."""
    if not quoted_text:
        return None
    q = _QUOTED_VOTE.search(quoted_text)
    c = _REPLY_CHOICE.match(unicodedata.normalize("NFKC", text))
    if q is None or c is None:
        return None
    return int(q.group(1)), c.group(1)


async def cast_reply(ctx: Context, vote_id: int, choice: str) -> None:
    """Replying "2" to the vote's post is `#投票 N 2`."""
    cmd = next(c for c in router.commands if c.name == "投票")
    ctx.intent = "command"
    await cmd.handler(ctx, cmd.parse(f"{vote_id} {choice}", []))


def turnout_posts(services: Services, session: Session, now: datetime) -> list[Outbound]:
    """The evening turnout of every open vote, to its groups (keyed per vote, day and group)."""
    directory = services.directory.current
    day = services.local(now).date().isoformat()
    outs: list[Outbound] = []
    for vote in session.exec(select(Vote).where(Vote.status == "open", col(Vote.deadline) > now)):
        assert vote.id is not None
        voted = len(session.exec(select(Ballot.id).where(Ballot.vote_id == vote.id)).all())
        total = len(register_of(services.settings, directory, vote))
        text = services.settings.template("vote_turnout_daily").format(
            id=vote.id,
            title=vote.title,
            voted=voted,
            of_total=f"（登记 {total} 户）" if total else "",
            deadline=short_local(services, vote.deadline),
        )
        for room in _rooms(directory, vote):
            outs.append(
                Outbound(text, room_id=room, quiet=True, key=f"vote:{vote.id}:turnout:{day}:{room}")
            )
    return outs
