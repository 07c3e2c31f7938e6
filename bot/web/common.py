"""What every dashboard page shares: labels, rendering, periods, refusals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any

from aiohttp import web

from bot.app import BOT, JINJA
from bot.web.auth import Viewer, current_viewer, get_session
from handlers.context import Services

STATUS_LABELS: dict[str, str] = {
    "new": "待接单",
    "claimed": "已接单",
    "planned": "已出方案",
    "resolved": "已办结",
    "closed": "已关闭",
    "cancelled": "已撤销",
}
# the years a period may name (and far from datetime's limits)
FIRST_YEAR, LAST_YEAR = 2000, 2100
RUNG_LABELS = ("物业", "网格", "社区", "街道", "区县")
EVENT_LABELS: dict[str, str] = {
    "created": "报事",
    "seconded": "附议",
    "claimed": "接单",
    "planned": "出方案",
    "progress": "进展",
    "replied": "书面答复",
    "resolved": "办结",
    "closed": "关闭",
    "cancelled": "撤销",
    "escalated": "升级",
    "reminded": "提醒",
    "rated": "评价",
    "reopened": "重新打开",
    "assigned": "指派",
    "transferred": "转派",
    "merged": "合并",
    "from_possible_complaint": "工作台立案",
    "alerted": "紧急通知",
}
SOURCE_LABELS: dict[str, str] = {
    "group": "业主群",
    "private": "私聊",
    "hotline": "12345热线",
    "dashboard": "工作台",
}


def rung_label(rung: int) -> str:
    """The rung of the escalation ladder as people say it."""
    return RUNG_LABELS[rung] if 0 <= rung < len(RUNG_LABELS) else str(rung)


def pct(v: float | None) -> str:
    """A rate as a percentage, or a dash when there is nothing to rate."""
    return "—" if v is None else f"{v * 100:.1f}%"


def bad_input(message: str) -> web.HTTPBadRequest:
    """A 400 page that says what was wrong."""
    return web.HTTPBadRequest(
        text=f"<!doctype html><meta charset=utf-8><title>输入有误</title>"
        f"<p>输入有误：{escape(message)}</p><p><a href='javascript:history.back()'>返回</a></p>",
        content_type="text/html",
    )


def refused(message: str = "这不在您的辖区范围内，无权查看。") -> web.HTTPForbidden:
    """A 403 page for something outside the viewer's area or role."""
    return web.HTTPForbidden(
        text=f"<!doctype html><meta charset=utf-8><title>无权查看</title>"
        f"<p class='refused'>{escape(message)}</p><p><a href='/'>返回总览</a></p>",
        content_type="text/html",
    )


def render(request: web.Request, template: str, *, active: str = "", **ctx: Any) -> web.Response:
    """Render a dashboard page with the shared header."""
    bot = request.app[BOT]
    html = (
        request.app[JINJA]
        .get_template(template)
        .render(
            bot_name=bot.services.settings.bot.name,
            sim=bot.sim is not None,
            user=current_viewer(request),
            csrf=get_session(request).csrf,
            active=active,
            **ctx,
        )
    )
    return web.Response(text=html, content_type="text/html")


def services_of(request: web.Request) -> Services:
    """The bot's services."""
    return request.app[BOT].services


def parse_day(value: str, name: str) -> date:
    """A YYYY-MM-DD date from a form, or a 400."""
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        raise bad_input(f"{name} 应为日期，格式如 2026-11-01") from None
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise bad_input(f"{name} 应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间")
    return d


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days [first, last], and the UTC moments they span."""

    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """2026-11-01 至 2026-11-23."""
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def make_period(services: Services, first: date, last: date) -> Period:
    """A period of local days."""
    if last < first:
        raise bad_input("结束日期早于开始日期")
    if (last - first).days > 3 * 366:
        raise bad_input("时间段最长三年")
    return Period(first, last, day_start(services, first), day_start(services, last + timedelta(1)))


def day_start(services: Services, d: date) -> datetime:
    """Local midnight of a day as an aware UTC moment."""
    tz = services.clock.now().tzinfo
    return datetime.combine(d, time(0), tzinfo=services.tz).astimezone(tz)


def period_from(request: web.Request, default_days: int | None = None) -> Period:
    """The period chosen with ?start=&end= (default: this month so far, or the last N days)."""
    s = services_of(request)
    today = s.local(s.clock.now()).date()
    if default_days is not None:
        default_first = today - timedelta(days=default_days - 1)
    else:
        default_first = today.replace(day=1)
    q = request.query
    first = parse_day(q["start"], "开始日期") if q.get("start") else default_first
    last = parse_day(q["end"], "结束日期") if q.get("end") else today
    return make_period(s, first, last)


def month_period(services: Services, value: str) -> Period:
    """A calendar month from YYYY-MM."""
    try:
        y, m = (int(p) for p in value.strip().split("-"))
        first = date(y, m, 1)
    except ValueError:
        raise bad_input("月份格式应为 2026-11") from None
    if not FIRST_YEAR <= y <= LAST_YEAR:
        raise bad_input(f"月份应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间")
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return make_period(services, first, nxt - timedelta(days=1))


def require_admin(viewer: Viewer) -> None:
    """Refuse anyone but an admin."""
    if not viewer.is_admin:
        raise refused("只有管理员可以修改楼栋、群和人员。")
