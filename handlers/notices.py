"""Recurring notices (reception day, 民意"5"来听): their dates, their texts, the consult answers.

The dates come from an APScheduler CronTrigger built from the notice's config, so the bot
in real time, the simulator and the answer to "接待日什么时候" share one definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from config.schema import DEFAULT_TEMPLATES, NoticeConfig, Settings
from handlers.consult import _names, answers
from handlers.context import Context
from handlers.sla import is_public_holiday, next_workday
from nlp import Understanding

WEEKDAYS = "一二三四五六日"
MAX_SCAN = 400  # occurrences looked at when searching: more than a year of daily notices


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One day a notice is about (after its holiday policy)."""

    notice: NoticeConfig
    original: date  # the day the rule gives
    day: date  # the day it happens (moved to a working day if so configured)
    starts: datetime  # local, aware

    @property
    def moved(self) -> bool:
        """Moved off a public holiday."""
        return self.day != self.original


def trigger(notice: NoticeConfig, tz: ZoneInfo) -> CronTrigger:
    """The notice's rule as an APScheduler trigger (fires at the start of each day it names)."""
    return CronTrigger(
        month=notice.month,
        day=notice.day,
        hour=notice.start.hour,
        minute=notice.start.minute,
        timezone=tz,
    )


def occurrences(notice: NoticeConfig, tz: ZoneInfo, since: datetime) -> Iterator[Occurrence]:
    """The notice's days whose rule-given start is at or after since, in order."""
    trig = trigger(notice, tz)
    cursor = since.astimezone(tz)
    for _ in range(MAX_SCAN):
        fire = trig.get_next_fire_time(None, cursor)
        if fire is None:
            return
        cursor = fire + timedelta(minutes=1)
        original = fire.date()
        day = original
        if is_public_holiday(original):
            if notice.holiday == "skip":
                continue
            if notice.holiday == "next_workday":
                day = next_workday(original)
        starts = datetime.combine(day, notice.start, tzinfo=tz)
        yield Occurrence(notice, original, day, starts)


def postings(occ: Occurrence, tz: ZoneInfo) -> list[tuple[int, datetime]]:
    """(lead index, local moment) at which an occurrence is announced."""
    return [
        (i, datetime.combine(occ.day - timedelta(days=lead.days_before), lead.at, tzinfo=tz))
        for i, lead in enumerate(occ.notice.lead_times)
    ]


def next_occurrence(notice: NoticeConfig, tz: ZoneInfo, now: datetime) -> Occurrence | None:
    """The next day of a notice that has not yet begun."""
    lookback = now - timedelta(days=31)  # a day moved forward may come from an earlier rule day
    for occ in occurrences(notice, tz, lookback):
        if occ.starts >= now:
            return occ
    return None


def date_label(occ: Occurrence) -> str:
    """10月13日（周二）, with a note when moved off a holiday."""
    d = occ.day
    note = "，节假日顺延" if occ.moved else ""
    return f"{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}{note}）"


def hours_label(notice: NoticeConfig) -> str:
    """09:00–11:00, or 09:00."""
    start = f"{notice.start:%H:%M}"
    return f"{start}–{notice.end:%H:%M}" if notice.end else start


def day_word(posted: date, day: date) -> str:
    """今天 / 明天 / 后天 / 3天后 — from the day it is posted."""
    n = (day - posted).days
    return {0: "今天", 1: "明天", 2: "后天"}.get(n, f"{n}天后")


def notice_text(settings: Settings, occ: Occurrence, posted: date, community: str) -> str:
    """The text posted to the groups."""
    n = occ.notice
    if n.template and n.template in DEFAULT_TEMPLATES:
        template = settings.template(n.template)
    elif n.template:
        template = n.template
    else:
        key = f"notice_{n.topic}"
        template = settings.template(key if key in DEFAULT_TEMPLATES else "notice_reception_day")
    return template.format(
        community=community,
        title=n.title,
        day_word=day_word(posted, occ.day),
        date=date_label(occ),
        hours=hours_label(n),
        place=n.place or "社区",
        who=n.who or "相关负责人",
    )


def notices_of(settings: Settings, community: str, topic: str) -> list[NoticeConfig]:
    """A community's notices on a topic."""
    return [n for n in settings.notices if n.community == community and n.topic == topic]


async def _answer_next(ctx: Context, topic: str, fallback_title: str) -> str:
    s = ctx.settings
    building = ctx.building
    found = notices_of(s, building.community, topic) if building else []
    nexts = [o for n in found if (o := next_occurrence(n, s.tz, ctx.now)) is not None]
    if not nexts:
        title = found[0].title if found else fallback_title
        return s.template("consult_no_notice").format(
            title=title, stewards=_names(ctx, "red_steward")
        )
    occ = min(nexts, key=lambda o: o.starts)
    n = occ.notice
    return s.template("consult_next_notice").format(
        title=n.title,
        date=date_label(occ),
        hours=hours_label(n),
        place=n.place or "社区",
        who_part=f"，{n.who}接待" if n.who else "",
    )


@answers("reception_day")
async def reception_day(ctx: Context, _u: Understanding) -> str | None:
    """The next reception day of the property project manager (项目经理接待日)."""
    return await _answer_next(ctx, "reception_day", "项目经理接待日")


@answers("five_listen")
async def five_listen(ctx: Context, _u: Understanding) -> str | None:
    """The next 民意"5"来听."""
    return await _answer_next(ctx, "five_listen", "民意“5”来听")


ANSWERS_REGISTERED = ("reception_day", "five_listen")
