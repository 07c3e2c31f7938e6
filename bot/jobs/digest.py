"""The daily digest: at the configured time, to each community secretary in private chat."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from loguru import logger
from sqlmodel import Session, col, select

from bot.jobs.common import send_all
from bot.jobs.scheduled import CalendarJob
from handlers.context import Outbound, Services
from handlers.officers import Digest, build_digest, render_chart
from storage.models import OutboxMessage


def digest_trigger(services: Services) -> CronTrigger:
    """Every day at digest.at, local time."""
    at = services.settings.digest.at
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=services.tz)


def secretaries(services: Services) -> dict[int, list[str]]:
    """Community id -> the ids of the secretaries whose grant covers it."""
    d = services.directory.current
    out: dict[int, list[str]] = {}
    for cid in sorted(d.communities):
        one = next((b for b in d.buildings.values() if b.community_id == cid), None)
        if one is None:
            continue
        people = [p.id for p in d.holders("community_secretary", one)]
        if people:
            out[cid] = sorted(people)
    return out


class DailyDigest(CalendarJob):
    """DueWork: the digest of yesterday for every community with a secretary."""

    name = "digest"

    def __init__(self, services: Services) -> None:
        super().__init__(services, digest_trigger(services))
        self.catch_up = timedelta(hours=services.settings.digest.catch_up_hours)

    async def run(self, now: datetime) -> None:
        """Nothing when the digest is switched off."""
        if self.services.settings.digest.enabled:
            await super().run(now)

    async def fire(self, fire: datetime, now: datetime) -> None:
        """Build and send each community's digest (skipping what was sent before)."""
        s = self.services
        d = s.directory.current
        today = fire.astimezone(s.tz).date()
        day = today - timedelta(days=1)
        for cid, people in secretaries(s).items():
            base = f"digest:{cid}:{today.isoformat()}"
            keys = [f"{base}:{pid}" for pid in people]

            def sent(session: Session, keys: list[str] = keys) -> bool:
                q = select(OutboxMessage.key).where(col(OutboxMessage.key).in_(keys))
                return len(session.exec(q).all()) == len(keys)

            if await s.db.run(sent):
                continue
            ids = {b.id for b in d.buildings.values() if b.community_id == cid}
            title = d.communities[cid][0]

            def build(session: Session, ids: set[int] = ids, title: str = title) -> Digest:
                return build_digest(
                    session,
                    settings=s.settings,
                    directory=d,
                    categories=s.classifier.categories,
                    building_ids=ids,
                    title=title,
                    day=day,
                    now=now,
                )

            digest = await s.db.run(build)
            image: Path | None = None
            if s.settings.digest.chart:
                path = Path(s.settings.bot.media_dir) / "digest" / f"digest-c{cid}-{day}.png"
                image = await asyncio.to_thread(render_chart, digest.series, path, title)
            outs: list[Outbound] = []
            for pid in people:
                outs.append(Outbound(digest.text, person_id=pid, key=f"{base}:{pid}"))
                if image is not None:
                    outs.append(
                        Outbound(
                            f"近{len(digest.series)}天工单趋势图",
                            person_id=pid,
                            image_path=str(image),
                            key=f"{base}:{pid}:chart",
                        )
                    )

            def write(session: Session, outs: list[Outbound] = outs) -> int:
                return send_all(s, session, now, outs)

            new = await s.db.run(write)
            logger.info("digest of {} for {}: {} message(s)", title, day.isoformat(), new)
