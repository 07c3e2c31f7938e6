"""Recurring notices posted to every group of a community at their lead times.

A posting whose moment passed by more than the notice's grace (the bot was down) is
skipped and logged, never posted late; one within the grace is posted on catch-up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loguru import logger
from sqlmodel import Session, select

from bot.jobs.common import send_all
from config.schema import NoticeConfig
from handlers.context import Outbound, Services
from handlers.notices import Occurrence, notice_text, occurrences, postings
from storage.models import OutboxMessage

LOOKBACK = timedelta(days=2)  # on start-up: what was missed is looked at (and logged)


class RecurringNotices:
    """DueWork: the configured notices of every community."""

    name = "notices"

    def __init__(self, services: Services) -> None:
        self.services = services
        self._since: datetime | None = None  # postings up to here are dealt with

    def _postings(
        self, notice: NoticeConfig, start: datetime, end: datetime
    ) -> list[tuple[Occurrence, int, datetime]]:
        """Postings of a notice with start < moment <= end."""
        tz = self.services.tz
        before = max((lead.days_before for lead in notice.lead_times), default=0)
        out = []
        for occ in occurrences(notice, tz, start - timedelta(days=before + 31)):
            moments = postings(occ, tz)
            if all(m > end for _, m in moments) and occ.starts > end + timedelta(days=before):
                break
            out += [(occ, i, m) for i, m in moments if start < m <= end]
        return out

    async def next_due(self, now: datetime) -> datetime | None:
        """The next posting moment after now."""
        best: datetime | None = None
        tz = self.services.tz
        for notice in self.services.settings.notices:
            before = max((lead.days_before for lead in notice.lead_times), default=0)
            for occ in occurrences(notice, tz, now - timedelta(days=before + 31)):
                later = [m for _, m in postings(occ, tz) if m > now]
                if later:
                    m = min(later)
                    best = m if best is None or m < best else best
                    break
        return best.astimezone(now.tzinfo) if best else None

    async def run(self, now: datetime) -> None:
        """Post what fell due since the last run (within the grace); log what is too late."""
        since = self._since or now - LOOKBACK
        if since >= now:
            return
        for notice in self.services.settings.notices:
            for occ, i, moment in self._postings(notice, since, now):
                await self._post(notice, occ, i, moment, now)
        self._since = now

    async def _post(
        self, notice: NoticeConfig, occ: Occurrence, lead: int, moment: datetime, now: datetime
    ) -> None:
        s = self.services
        d = s.directory.current
        community_id = next(
            (cid for cid, (name, _, _) in d.communities.items() if name == notice.community), None
        )
        rooms = sorted(
            rid
            for rid, (_, bid) in d.rooms.items()
            if bid is not None and d.buildings[bid].community_id == community_id
        )
        base = f"notice:{notice.id}:{occ.original.isoformat()}:{lead}"
        late = now - moment > timedelta(minutes=notice.grace_minutes)
        if late:

            def posted(session: Session) -> bool:
                q = select(OutboxMessage.id).where(OutboxMessage.key.startswith(base + ":"))  # type: ignore[attr-defined]
                return session.exec(q).first() is not None

            if not await s.db.run(posted):
                logger.warning(
                    "notice {} of {} for {} was due at {}: {} late, skipped (grace {} min)",
                    notice.id,
                    notice.community,
                    occ.day.isoformat(),
                    s.local(moment).isoformat(timespec="minutes"),
                    now - moment,
                    notice.grace_minutes,
                )
            return
        text = notice_text(s.settings, occ, s.local(moment).date(), notice.community)
        outs = [Outbound(text, room_id=rid, quiet=True, key=f"{base}:{rid}") for rid in rooms]

        def write(session: Session) -> int:
            return send_all(s, session, now, outs)

        new = await s.db.run(write)
        if new:
            logger.info(
                "notice {} for {} posted to {} group(s)", notice.id, occ.day.isoformat(), new
            )
