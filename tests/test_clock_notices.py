"""Recurring notices across October 2026 (National Day holiday Oct 1-7), grace, consult."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from config.schema import LeadTime, NoticeConfig
from nlp import Understanding
from tests.clock_helpers import ROOM3, TZ, at_local, local, quiet_settings
from tests.harness import running_bot

ROOMS = (
    "阳光花园1号楼业主群",
    "阳光花园2号楼业主群",
    "阳光花园3号楼业主群",
    "和平新村5号楼业主群",
    "和平新村6号楼业主群",
)
LEADS = [LeadTime(days_before=1, at=time(19, 0)), LeadTime(days_before=0, at=time(8, 0))]


def october_notices(five_listen_holiday: str = "skip") -> list[NoticeConfig]:
    """Reception day on the first Thursday (Oct 1: a holiday, moved); 5-15-25."""
    return [
        NoticeConfig(
            id="reception",
            community="华福社区",
            topic="reception_day",
            title="物业项目经理接待日",
            day="1st thu",
            start=time(9, 0),
            end=time(11, 0),
            place="红帆驿站",
            who="物业项目经理",
            holiday="next_workday",
            lead_times=LEADS,
        ),
        NoticeConfig(
            id="five",
            community="华福社区",
            topic="five_listen",
            title="民意“5”来听",
            day="5,15,25",
            start=time(9, 0),
            end=time(11, 30),
            place="社区党群服务中心",
            who="社区民情书记",
            holiday=five_listen_holiday,
            lead_times=LEADS,
        ),
    ]


def test_october_2026_has_its_national_day_holiday() -> None:
    from datetime import date

    import chinese_calendar

    assert chinese_calendar.is_holiday(date(2026, 10, 1))
    assert chinese_calendar.is_workday(date(2026, 10, 8))


async def test_notices_appear_in_every_group_on_the_right_days_of_october(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path, notices=october_notices())
    async with running_bot(sqlite_url, settings, start=local(2026, 9, 30, 12, 0)) as h:
        await h.advance(31 * 24 * 60)  # to Oct 31 12:00
        expected = [
            (
                "10-07 19:00",
                "📢华福社区物业项目经理接待日：明天10月8日（周四，节假日顺延） 09:00–11:00",
            ),
            (
                "10-08 08:00",
                "📢华福社区物业项目经理接待日：今天10月8日（周四，节假日顺延） 09:00–11:00",
            ),
            ("10-14 19:00", "📢民意“5”来听：明天10月15日（周四） 09:00–11:30"),
            ("10-15 08:00", "📢民意“5”来听：今天10月15日（周四） 09:00–11:30"),
            ("10-24 19:00", "📢民意“5”来听：明天10月25日（周日） 09:00–11:30"),
            ("10-25 08:00", "📢民意“5”来听：今天10月25日（周日） 09:00–11:30"),
        ]
        for topic in ROOMS:
            got = [(at_local(m), m["text"]) for m in await h.room(topic) if m["from_bot"]]
            assert [(t, x[: len(e)]) for (t, x), (_, e) in zip(got, expected, strict=False)] == (
                expected
            ), topic
            assert len(got) == len(expected), topic
        [first] = [m["text"] for m in await h.room(ROOM3) if m["from_bot"]][:1]
        assert first == (
            "📢华福社区物业项目经理接待日：明天10月8日（周四，节假日顺延） 09:00–11:00，"
            "地点：红帆驿站，物业项目经理接待业主，欢迎大家前来反映问题、提出建议。"
        )


async def test_post_anyway_keeps_the_holiday(sqlite_url: str, tmp_path: Path) -> None:
    settings = quiet_settings(tmp_path, notices=october_notices("post")[1:])
    async with running_bot(sqlite_url, settings, start=local(2026, 10, 3, 12, 0)) as h:
        await h.advance(3 * 24 * 60)  # to Oct 6
        got = [(at_local(m), m["text"]) for m in await h.room(ROOM3) if m["from_bot"]]
        assert [t for t, _ in got] == ["10-04 19:00", "10-05 08:00"]
        assert got[0][1].startswith("📢民意“5”来听：明天10月5日（周一） 09:00–11:30")
        assert got[1][1].startswith("📢民意“5”来听：今天10月5日（周一） 09:00–11:30")


async def test_a_notice_missed_by_more_than_the_grace_is_skipped_not_posted_late(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path, notices=october_notices())
    # down over the evening before and the morning: back at 09:30 (08:00 + 90 min > grace 60)
    async with running_bot(sqlite_url, settings, start=local(2026, 10, 15, 9, 30)) as h:
        await h.advance(0)
        assert await h.bot_lines(ROOM3) == []
    # back at 08:40 instead: within the grace, the morning notice goes out on catch-up
    async with running_bot(
        sqlite_url.replace("bot.db", "bot2.db"), settings, start=local(2026, 10, 15, 8, 40)
    ) as h:
        await h.advance(0)
        got = [(at_local(m), m["text"]) for m in await h.room(ROOM3) if m["from_bot"]]
        assert [t for t, _ in got] == ["10-15 08:40"]
        assert got[0][1].startswith("📢民意“5”来听：今天10月15日（周四） 09:00–11:30")


class AskingClassifier:
    """Understands the reception-day question as the real classifier will."""

    categories: dict[str, str] = {"repair": "设施维修"}  # noqa: RUF012

    def classify(self, text: str) -> Understanding:
        if "接待日" in text:
            return Understanding(intent="consult", topic="reception_day")
        if "来听" in text:
            return Understanding(intent="consult", topic="five_listen")
        return Understanding(intent="none")


async def test_reception_day_question_is_answered_with_the_next_date(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path, notices=october_notices())
    async with running_bot(sqlite_url, settings, start=local(2026, 9, 28, 10, 0)) as h:
        h.bot.services.classifier = AskingClassifier()  # type: ignore[assignment]
        await h.say(ROOM3, "张阿姨", "请问这个月接待日什么时候？")
        await h.say(ROOM3, "张阿姨", "民意5来听是哪天")
        assert await h.bot_lines(ROOM3) == [
            "@张阿姨\u2005下一次物业项目经理接待日：10月8日（周四，节假日顺延） 09:00–11:00，"
            "地点：红帆驿站，物业项目经理接待。",
            "@张阿姨\u2005下一次民意“5”来听：10月15日（周四） 09:00–11:30，"
            "地点：社区党群服务中心，社区民情书记接待。",
        ]


def test_next_occurrence_uses_the_same_trigger_as_the_scheduler() -> None:
    from handlers.notices import next_occurrence

    [reception, five] = october_notices()
    occ = next_occurrence(reception, TZ, local(2026, 10, 8, 9, 30))
    assert occ is not None and (occ.day.isoformat(), occ.moved) == ("2026-11-05", False)
    occ = next_occurrence(five, TZ, local(2026, 10, 1, 0, 0))
    assert occ is not None and occ.day.isoformat() == "2026-10-15"
