"""The hub's clock: scheduled notices go out, senders get delivery reports, votes close."""

from __future__ import annotations

from datetime import datetime, timedelta

from loguru import logger
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.jobs.common import send_all
from handlers.broadcast import deliveries_for, report_due, report_if_done
from handlers.context import Outbound, Services, at_local
from handlers.votes import close_votes, turnout_posts
from storage.models import Notice, Vote


class NoticeWork:
    """DueWork: scheduled notices at their moment; each sending notice's report when done."""

    name = "broadcast"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def next_due(self, now: datetime) -> datetime | None:
        """The next scheduled notice, or the latest moment a report waits for."""
        s = self.services

        def query(session: Session) -> list[datetime]:
            times: list[datetime] = []
            first = session.exec(
                select(func.min(Notice.send_at)).where(
                    Notice.status == "scheduled", col(Notice.send_at) > now
                )
            ).first()
            if first is not None:
                times.append(first)
            for n in session.exec(select(Notice).where(Notice.status == "sending")):
                times.append(report_due(s, n))
            return times

        later = [t for t in await s.db.run(query) if t > now]
        return min(later) if later else None

    async def run(self, now: datetime) -> None:
        """Send what is scheduled by now; report on notices whose groups all have it."""
        s = self.services

        def work(session: Session) -> tuple[int, int]:
            outs: list[Outbound] = []
            started = 0
            for n in session.exec(
                select(Notice)
                .where(Notice.status == "scheduled", col(Notice.send_at) <= now)
                .with_for_update()  # two processes: the second sees it sent already
            ):
                outs += deliveries_for(session, n, now)
                started += 1
            reports = 0
            for n in session.exec(
                select(Notice).where(Notice.status == "sending").with_for_update()
            ):
                if n.sent_at == now and started:
                    continue  # handed to the outbox just now
                out = report_if_done(s, session, n, now)
                if out is not None:
                    outs.append(out)
                    reports += 1
            # drafts nobody confirmed in time stay archived, as expired
            stale = now - timedelta(minutes=s.settings.broadcast.confirm_minutes)
            for n in session.exec(
                select(Notice).where(Notice.status == "draft", col(Notice.created_at) < stale)
            ):
                n.status = "expired"
                session.add(n)
            if outs:
                send_all(s, session, now, outs)
            return started, reports

        started, reports = await s.db.run(work)
        if started or reports:
            logger.info("notices: {} scheduled sent, {} report(s)", started, reports)


class VoteWork:
    """DueWork: a vote's result at its deadline; each evening the turnout of open votes."""

    name = "votes"
    TURNOUT_GRACE = timedelta(hours=1)

    def __init__(self, services: Services) -> None:
        self.services = services
        self._turnout_done: datetime | None = None

    def _turnout_moment(self, now: datetime, *, after: bool) -> datetime | None:
        """Today's turnout moment (votes.turnout_at), or with after=True the next one."""
        at = self.services.settings.votes.turnout_at
        if at is None:
            return None
        moment = at_local(self.services, now, at)
        if after and moment <= now:
            moment = at_local(self.services, now + timedelta(days=1), at)
        return moment

    async def next_due(self, now: datetime) -> datetime | None:
        """The next deadline of an open vote, or the next turnout post while one is open."""

        def query(session: Session) -> datetime | None:
            return session.exec(
                select(func.min(Vote.deadline)).where(
                    Vote.status == "open", col(Vote.deadline) > now
                )
            ).first()

        first = await self.services.db.run(query)
        if first is None:
            return None
        turnout = self._turnout_moment(now, after=True)
        return min(first, turnout) if turnout is not None else first

    async def run(self, now: datetime) -> None:
        """Close every vote whose deadline has come; post the evening turnout once a day."""
        s = self.services
        moment = self._turnout_moment(now, after=False)
        turnout = (
            moment is not None
            and moment <= now < moment + self.TURNOUT_GRACE
            and self._turnout_done != moment
        )

        def work(session: Session) -> int:
            outs = close_votes(s, session, now)
            if turnout:
                outs += turnout_posts(s, session, now)
            if outs:
                send_all(s, session, now, outs)
            return len(outs)

        if await s.db.run(work):
            logger.info("votes: results or turnout posted at {}", now.isoformat())
        if turnout:
            self._turnout_done = moment
