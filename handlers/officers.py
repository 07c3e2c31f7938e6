"""The offices' view: the daily digest, this month's figures, what is overdue — by area.

`日报` sends the digest now (privately), `统计` this month's figures, `逾期` the overdue
tickets; each covers the buildings the asker's roles reach (Directory.buildings_visible_to).
The scheduled digest (bot/jobs/digest.py) is built by the same functions.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from loguru import logger
from sqlmodel import Session

from config.schema import Settings
from handlers.context import Context, Outbound, Tx
from handlers.errors import DomainError
from handlers.privacy import mask_phones
from handlers.router import CommandArgs, Router
from handlers.sla import STEP_LABELS
from storage import stats
from storage.directory import Directory
from storage.models import Ticket

router = Router("officers")
OFFICER_ROLES = ("community_secretary", "street_officer", "district_officer", "admin")
WEEKDAYS = "一二三四五六日"
DIGEST_OVERDUE = 10  # overdue tickets listed in the digest (then the count of the rest)
OVERDUE_SHOWN = 30  # and in the answer to #逾期
RUNG_LABELS = {0: "物业", 1: "网格员", 2: "社区", 3: "街道", 4: "区县"}
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
)


def pct(part: int, whole: int) -> str:
    """80%（4/5）, or — when there is nothing to count."""
    if not whole:
        return "—（0/0）"
    return f"{round(100 * part / whole)}%（{part}/{whole}）"


def day_label(d: date) -> str:
    """11月23日（周一）."""
    return f"{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


@dataclass(frozen=True, slots=True)
class Overdue:
    """An open ticket past one of its deadlines."""

    ticket: Ticket
    kind: str
    due: datetime


def overdue(
    session: Session,
    settings: Settings,
    building_ids: Collection[int] | None,
    now: datetime,
    limit: int | None = None,
) -> list[Overdue]:
    """Open tickets whose first unmet deadline has passed, oldest deadline first (the first
    `limit`: a district may have thousands, the messages show a few and the count)."""
    out = []
    for t in stats.overdue_tickets(session, now, building_ids, limit):
        assert t.overdue_at is not None
        out.append(Overdue(t, t.overdue_kind or "solution", t.overdue_at))
    return out


@dataclass(slots=True)
class Digest:
    """The digest of an area for one day."""

    title: str
    day: date
    counts: stats.DayCounts
    month: stats.Rates
    overdue: list[Overdue]  # the oldest DIGEST_OVERDUE of them
    top_categories: list[tuple[str, int]]
    top_buildings: list[tuple[str, int]]
    possible: list[tuple[str, str]]  # (where, masked text)
    series: list[tuple[date, int, int]] = field(default_factory=list)
    text: str = ""
    overdue_total: int = 0  # all of them


def _label(directory: Directory, building_id: int | None) -> str:
    b = directory.buildings.get(building_id or -1)
    return b.label if b else "未绑定楼栋"


def build_digest(
    session: Session,
    *,
    settings: Settings,
    directory: Directory,
    categories: Mapping[str, str],
    building_ids: Collection[int] | None,
    title: str,
    day: date,
    now: datetime,
) -> Digest:
    """The digest of `day` (yesterday, usually) for some buildings, as of now."""
    tz = settings.tz
    top_n = settings.digest.top
    start, end = stats.local_day_bounds(day, tz)
    m_start, _ = stats.local_month_bounds(day.year, day.month, tz)
    rates = stats.rates(session, m_start, end, building_ids=building_ids).get(None, stats.Rates())
    cats = stats.top(session, m_start, end, "category", building_ids, top_n)
    blds = stats.top(session, m_start, end, "building_id", building_ids, top_n)
    possible = stats.possible_complaints(session, start, end, building_ids)
    d = Digest(
        title=title,
        day=day,
        counts=stats.counts(session, start, end, building_ids),
        month=rates,
        overdue=overdue(session, settings, building_ids, now, DIGEST_OVERDUE),
        overdue_total=stats.overdue_count(session, now, building_ids),
        top_categories=[(categories.get(c, c), n) for c, n in cats],
        top_buildings=[(_label(directory, b), n) for b, n in blds],
        possible=[(_label(directory, p.building_id), mask_phones(p.text)[:60]) for p in possible],
        series=stats.daily_series(
            session,
            day - timedelta(days=settings.digest.chart_days - 1),
            settings.digest.chart_days,
            tz,
            building_ids,
        ),
    )
    d.text = digest_text(d, settings, categories, directory)
    return d


def digest_text(
    d: Digest, settings: Settings, categories: Mapping[str, str], directory: Directory
) -> str:
    """The digest as one private message."""
    c = d.counts
    r = d.month
    lines = [
        f"【{d.title} 日报】{day_label(d.day)}",
        f"昨日：新增 {c.new} 件，认领 {c.claimed} 件，办结 {c.resolved} 件，结案 {c.closed} 件",
    ]
    if d.overdue_total:
        lines.append(f"逾期未办 {d.overdue_total} 件：")
        for o in d.overdue[:DIGEST_OVERDUE]:
            t = o.ticket
            lines.append(
                f"· #{t.number}【{categories.get(t.category, t.category)}】"
                f"{_label(directory, t.building_id)} {STEP_LABELS.get(o.kind, o.kind)}超时，"
                f"在{RUNG_LABELS.get(t.rung, str(t.rung))}"
            )
        if d.overdue_total > DIGEST_OVERDUE:
            lines.append(f"· ……另有 {d.overdue_total - DIGEST_OVERDUE} 件，发送“#逾期”查看全部")
    else:
        lines.append("逾期未办：无")
    lines.append(
        f"本月累计 {r.total} 件：响应率 {pct(r.responded_in_time, r.total)}，"
        f"办结率 {pct(r.resolved_in_time, r.total)}，满意率 {pct(r.satisfied, r.rated)}"
    )
    if d.top_categories:
        lines.append("问题最多：" + "、".join(f"{k} {n}" for k, n in d.top_categories))
    if d.top_buildings:
        lines.append("报事最多的楼栋：" + "、".join(f"{k} {n}" for k, n in d.top_buildings))
    if d.possible:
        lines.append(f"可能的投诉（待确认）{len(d.possible)} 条：")
        lines += [f"· {where}：“{text}”" for where, text in d.possible[:5]]
    return "\n".join(lines)


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in installed), None)


def render_chart(series: list[tuple[date, int, int]], path: Path, title: str) -> Path | None:
    """A PNG of new and resolved tickets per day; None if it cannot be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        font = _cjk_font()
        labels = (
            (f"{title} 近{len(series)}天", "新增", "办结")
            if font
            else (f"last {len(series)} days", "new", "resolved")
        )
        fig = Figure(figsize=(7, 3.2), dpi=100)
        ax = fig.add_subplot()
        if font:
            ax.set_prop_cycle(None)
            for item in (ax.title, ax.xaxis.label, ax.yaxis.label):
                item.set_fontfamily(font)
        xs = [f"{d.month}/{d.day}" for d, _, _ in series]
        ax.bar(xs, [n for _, n, _ in series], color="#c0392b", label=labels[1])
        ax.plot(xs, [r for _, _, r in series], color="#2c3e50", marker="o", label=labels[2])
        ax.set_title(labels[0], fontfamily=font or "DejaVu Sans")
        ax.legend(prop={"family": font} if font else None)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
        return path
    except Exception:
        logger.exception("digest chart {} could not be drawn", path.name)
        return None


def area_title(directory: Directory, building_ids: Collection[int]) -> str:
    """The community's name when the area is one community, else a count."""
    communities = {
        directory.buildings[b].community for b in building_ids if b in directory.buildings
    }
    if len(communities) == 1:
        return next(iter(communities))
    return f"辖区{len(communities)}个社区"


def _area(ctx: Context) -> set[int]:
    ids = ctx.directory.buildings_visible_to(ctx.sender_id)
    if not ids:
        raise DomainError("您的角色还没有对应的辖区，请联系管理员设置。")
    return ids


def _private(ctx: Context, text: str, image: str | None = None) -> Outbound:
    return Outbound(text, person_id=ctx.sender_id, image_path=image)


@router.command(
    "日报",
    aliases=("digest",),
    usage="#日报",
    example="#日报",
    summary="现在私信给我辖区的日报",
    roles=OFFICER_ROLES,
)
async def digest_now(ctx: Context, _args: CommandArgs) -> None:
    """The digest of yesterday for the asker's area, now, in private chat."""
    ids = _area(ctx)
    s = ctx.services
    day = s.local(ctx.now).date() - timedelta(days=1)
    title = area_title(ctx.directory, ids)

    def build(session: Session) -> Digest:
        return build_digest(
            session,
            settings=ctx.settings,
            directory=ctx.directory,
            categories=s.classifier.categories,
            building_ids=ids,
            title=title,
            day=day,
            now=ctx.now,
        )

    digest = await s.db.run(build)
    image: Path | None = None
    if ctx.settings.digest.chart:
        tag = hashlib.sha1(f"{ctx.sender_id}:{ctx.channel_message_id}".encode()).hexdigest()[:10]
        path = Path(ctx.settings.bot.media_dir) / "digest" / f"digest-{day.isoformat()}-{tag}.png"
        image = await asyncio.to_thread(render_chart, digest.series, path, title)

    def send(_s: Session, tx: Tx) -> None:
        tx.send(_private(ctx, digest.text))
        if image is not None:
            tx.send(_private(ctx, f"近{len(digest.series)}天工单趋势图", str(image)))
        if not ctx.is_private:
            tx.send(ctx.reply("日报已私信发给您。", mention_sender=True))

    await ctx.run(send)


@router.command(
    "统计",
    aliases=("stats",),
    usage="#统计",
    example="#统计",
    summary="查看辖区本月的工单数和响应率、办结率、满意率",
    roles=OFFICER_ROLES,
)
async def month_stats(ctx: Context, _args: CommandArgs) -> None:
    """This month's figures for the asker's area."""
    ids = _area(ctx)
    s = ctx.services
    local = s.local(ctx.now)
    start, _ = stats.local_month_bounds(local.year, local.month, s.tz)
    cats = s.classifier.categories

    def build(session: Session) -> str:
        r = stats.rates(session, start, ctx.now, building_ids=ids).get(None, stats.Rates())
        c = stats.counts(session, start, ctx.now, ids)
        top_c = stats.top(session, start, ctx.now, "category", ids, ctx.settings.digest.top)
        top_b = stats.top(session, start, ctx.now, "building_id", ids, ctx.settings.digest.top)
        late = stats.overdue_count(session, ctx.now, ids)
        lines = [
            f"【{area_title(ctx.directory, ids)} {local.month}月统计】截至{local:%m-%d %H:%M}",
            f"新增 {c.new} 件，认领 {c.claimed} 件，办结 {c.resolved} 件，结案 {c.closed} 件，"
            f"当前逾期 {late} 件",
            f"响应率 {pct(r.responded_in_time, r.total)}，办结率 {pct(r.resolved_in_time, r.total)}，"
            f"满意率 {pct(r.satisfied, r.rated)}",
        ]
        if top_c:
            lines.append("问题最多：" + "、".join(f"{cats.get(k, k)} {n}" for k, n in top_c))
        if top_b:
            lines.append(
                "报事最多的楼栋：" + "、".join(f"{_label(ctx.directory, k)} {n}" for k, n in top_b)
            )
        return "\n".join(lines)

    text = await s.db.run(build)
    ctx.say(text)


@router.command(
    "逾期",
    aliases=("overdue",),
    usage="#逾期",
    example="#逾期",
    summary="查看辖区内超过时限未办的工单",
    roles=OFFICER_ROLES,
)
async def list_overdue(ctx: Context, _args: CommandArgs) -> None:
    """The overdue tickets of the asker's area, oldest deadline first."""
    ids = _area(ctx)
    s = ctx.services
    cats = s.classifier.categories

    def build(session: Session) -> tuple[int, list[Overdue]]:
        shown = overdue(session, ctx.settings, ids, ctx.now, OVERDUE_SHOWN)
        return stats.overdue_count(session, ctx.now, ids), shown

    total, late = await s.db.run(build)
    if not total:
        ctx.say("您的辖区目前没有逾期工单。")
        return
    lines = [f"逾期工单 {total} 件（最早的在前）："]
    for o in late:
        t = o.ticket
        due = s.local(o.due)
        lines.append(
            f"· #{t.number}【{cats.get(t.category, t.category)}】{_label(ctx.directory, t.building_id)}"
            f" {STEP_LABELS.get(o.kind, o.kind)}应在{due.month}月{due.day}日 {due:%H:%M}前，"
            f"在{RUNG_LABELS.get(t.rung, str(t.rung))}"
        )
    if total > len(late):
        lines.append(f"……另有 {total - len(late)} 件")
    ctx.say("\n".join(lines))
