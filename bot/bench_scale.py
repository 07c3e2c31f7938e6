"""Benchmarks at scale: a district's worth of rooms and tickets, generated with bulk inserts.

The generator writes plain Core INSERTs in batches (no ORM objects), so a million tickets
take a minute or two, not an hour. The timed parts are the bot's own code paths: the digest
builder (handlers/officers.build_digest, as bot/jobs/digest.py calls it), the monthly report
(bot/report.collect + write_workbook), the overview figures (storage/stats.rates + counts —
the queries the dashboard overview uses) and one deadline sweep (bot/jobs/deadlines.py).
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from bot.app import build_bot, settle_memory
from bot.jobs.deadlines import DeadlineSweep
from bot.report import collect, write_workbook
from bot.simulator import SimClock
from bot.web.queries import OverviewFigures, overview_figures
from config.schema import ROOT, Settings, load_settings
from handlers.officers import build_digest
from handlers.sla import first_unmet
from storage import Database, stats
from storage.models import (
    Building,
    Community,
    Compound,
    Counter,
    Person,
    Room,
    Ticket,
    TicketEvent,
)

# the moment the scale figures are taken at: Monday 2026-11-23 10:00 Shanghai
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
BUILDINGS_PER_COMPOUND = 10
COMPOUNDS_PER_COMMUNITY = 5
COMMUNITIES_PER_STREET = 10
CATEGORIES = ("elevator", "water", "lighting", "sanitation", "heating", "noise", "parking")
BATCH = 5000


@dataclass(slots=True)
class Sizes:
    """How much to generate."""

    rooms: int = 10_000
    tickets: int = 1_000_000
    open_tickets: int = 100_000
    due: int = 200  # open tickets whose deadline has just passed when the sweep runs
    months: int = 36  # the tickets' creation times spread over this many months before NOW

    def line(self) -> str:
        """The sizes as printed."""
        return (
            f"sizes: {self.rooms:,} rooms (= buildings), {self.tickets:,} tickets over "
            f"{self.months} months ({self.open_tickets:,} open, {self.due:,} of them due at the "
            f"sweep), {self.rooms // BUILDINGS_PER_COMPOUND // COMPOUNDS_PER_COMMUNITY:,} "
            "communities in one district"
        )


@dataclass(slots=True)
class ScaleResult:
    """The timings of one engine."""

    engine: str
    generate_s: float = 0.0
    figures: list[tuple[str, float, float, str]] = field(default_factory=list)
    rss_mb: float = 0.0
    loaded_mb: float = 0.0
    classifier_mb: float = 0.0

    def lines(self) -> list[str]:
        """The report lines: each figure with its goal."""
        out = [f"[{self.engine}] generated in {self.generate_s:.1f} s"]
        for name, seconds, goal, note in self.figures:
            ok = "ok" if seconds <= goal else f"MISSED by {seconds / goal:.1f}×"
            out.append(
                f"[{self.engine}] {name}: {seconds * 1000:,.0f} ms "
                f"(goal ≤ {goal * 1000:,.0f} ms, {ok}){'; ' + note if note else ''}"
            )
        total = self.loaded_mb + self.classifier_mb
        ok = "ok" if total <= 300 else f"MISSED by {total / 300:.1f}×"
        out.append(
            f"[{self.engine}] RSS with the rooms loaded (a fresh bot process: directory, "
            f"classifier, bot built; peaks): {total:,.0f} MB = bot {self.loaded_mb:,.0f} MB + "
            f"classifier process {self.classifier_mb:,.0f} MB (goal ≤ 300 MB, {ok}); "
            f"peak RSS of the benchmark process (ingest, generator, report workbook included): "
            f"{self.rss_mb:,.0f} MB"
        )
        return out


def loaded_rss_mb(db_url: str) -> tuple[float, float]:
    """Peak RSS of a fresh bot process over the database: rooms loaded, ready to serve.

    Measured in a child process, as a deployment starts: the benchmark's own process has
    generated a million rows and run the ingest, and Python keeps what it once allocated.
    The bot's own peak, and its classifier process's (0 when it classifies in-process).
    """
    out = subprocess.run(
        [sys.executable, "-m", "bot.bench_scale", "loaded-rss", db_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    words = out.split()
    return float(words[-3]), float(words[-1])


def _hwm_mb(pid: int | str = "self") -> float:
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child forked from the big
    # benchmark process would report its parent's size
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _loaded_rss(db_url: str) -> tuple[float, float]:
    """In the child: build the bot over the database the way `run` does, then read the peaks."""
    settings = load_settings(ROOT / "config" / "demo.toml")
    db = Database(db_url)
    bot = build_bot(
        settings,
        db=db,
        clock=SimClock(NOW, running=False),
        classify_process=settings.bot.classifier_process,
    )
    directory = bot.services.directory.reload_sync()
    assert len(directory.buildings) > 0
    text = "3号楼2单元楼道灯坏了好几天了"

    async def first_message() -> float:
        process = bot.classify_process
        if process is None:
            bot.services.classifier.classify(text)  # the dictionary is loaded
            return 0.0
        await process.start()
        assert (await process.classify(text)).intent == "complaint"
        assert process.pid is not None
        peak = _hwm_mb(process.pid)
        await process.close()
        return peak

    child = asyncio.run(first_message())
    db.close()
    return _hwm_mb(), child


def peak_rss_mb() -> float:
    """The process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(db: Database, sizes: Sizes, settings: Settings, seed: int = 11) -> None:
    """Fill an empty, migrated database with rooms, people and tickets (Core bulk inserts).

    Rows are written as the bot would leave them: an open ticket carries its overdue moment
    (handlers/sla.first_unmet, from the SLA in settings), as the ticket handlers store it.
    """
    rng = random.Random(seed)
    n_build = sizes.rooms
    n_comp = max(1, n_build // BUILDINGS_PER_COMPOUND)
    n_comm = max(1, n_comp // COMPOUNDS_PER_COMMUNITY)
    residents = max(100, sizes.tickets // 50)
    with db.engine.begin() as conn:
        conn.execute(
            insert(Community),
            [
                {
                    "id": i + 1,
                    "name": f"社区{i + 1}",
                    "street": f"街道{i // COMMUNITIES_PER_STREET + 1}",
                    "district": "历下区",
                }
                for i in range(n_comm)
            ],
        )
        conn.execute(
            insert(Compound),
            [
                {
                    "id": i + 1,
                    "community_id": min(n_comm, i // COMPOUNDS_PER_COMMUNITY + 1),
                    "name": f"小区{i + 1}",
                }
                for i in range(n_comp)
            ],
        )
        building_comm: list[int] = []
        rows = []
        for i in range(n_build):
            comp = min(n_comp, i // BUILDINGS_PER_COMPOUND + 1)
            comm = min(n_comm, (comp - 1) // COMPOUNDS_PER_COMMUNITY + 1)
            building_comm.append(comm)
            rows.append(
                {
                    "id": i + 1,
                    "compound_id": comp,
                    "community_id": comm,
                    "name": f"{i % 10 + 1}号楼",
                }
            )
        conn.execute(insert(Building), rows)
        conn.execute(
            insert(Room),
            [
                {
                    "id": f"room-{i + 1}",
                    "topic": f"小区{i // 10 + 1} {i % 10 + 1}号楼业主群",
                    "building_id": i + 1,
                    "updated_at": NOW,
                }
                for i in range(n_build)
            ],
        )
        for batch in _batches(
            {"id": f"r{i}", "name": f"居民{i}", "created_at": NOW, "erased": False}
            for i in range(residents)
        ):
            conn.execute(insert(Person), batch)
    span = timedelta(days=30.4 * sizes.months)
    open_from = sizes.tickets - sizes.open_tickets

    def tickets() -> Iterator[dict[str, Any]]:
        for n in range(1, sizes.tickets + 1):
            is_open = n > open_from
            # open tickets are the recent ones; closed ones spread over the whole span
            if is_open:
                created = NOW - timedelta(minutes=rng.uniform(30, 60 * 24 * 20))
            else:
                created = NOW - span * (1 - n / max(1, open_from)) - timedelta(days=1)
            b = rng.randrange(n_build)
            row: dict[str, Any] = {
                "id": n,
                "number": n,
                "category": CATEGORIES[n % len(CATEGORIES)],
                "urgent": False,
                "major": False,
                "summary": "楼道灯坏了好几天了",
                "keywords": "楼道 灯 坏",
                "location": None,
                "building_id": b + 1,
                "community_id": building_comm[b],
                "room_id": f"room-{b + 1}",
                "reporter_id": f"r{n % residents}",
                "assignee_id": None,
                "status": "new",
                "rung": 0,
                "reporters_count": 1,
                "source": "group",
                "source_message_id": None,
                "created_at": created,
                "first_response_at": None,
                "plan_at": None,
                "reply_at": None,
                "resolved_at": None,
                "closed_at": None,
                "cancelled_at": None,
                "reopened_at": None,
                "next_deadline_at": None,
                "next_deadline_kind": None,
                "overdue_at": None,
                "overdue_kind": None,
                "reminded_at": None,
                "responded_on_time": None,
                "resolved_on_time": None,
                "rating": None,
                "rating_comment": None,
                "updated_at": created,
            }
            if is_open:
                due = n > sizes.tickets - sizes.due
                row["next_deadline_at"] = (
                    NOW - timedelta(seconds=rng.uniform(1, 600))
                    if due
                    else NOW + timedelta(minutes=rng.uniform(10, 60 * 24 * 7))
                )
                row["next_deadline_kind"] = "solution"
                row["status"] = "claimed"
                row["assignee_id"] = f"r{(n * 7) % residents}"
                row["first_response_at"] = created + timedelta(minutes=20)
                row["responded_on_time"] = True
                if rng.random() < 0.5:  # half have a plan, so some are not overdue yet
                    row["plan_at"] = created + timedelta(minutes=25)
                due_step = first_unmet(Ticket.model_validate(row), settings)
                row["overdue_kind"], row["overdue_at"] = due_step if due_step else (None, None)
            else:
                row["status"] = "closed"
                row["first_response_at"] = created + timedelta(minutes=20)
                row["resolved_at"] = created + timedelta(hours=rng.uniform(2, 60))
                row["closed_at"] = row["resolved_at"] + timedelta(hours=1)
                row["responded_on_time"] = rng.random() < 0.9
                row["resolved_on_time"] = rng.random() < 0.8
                row["rating"] = rng.choice(("满意", "基本满意", "不满意", None))
            yield row

    def events(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for t in batch:
            out.append(
                {
                    "ticket_id": t["id"],
                    "kind": "created",
                    "actor_id": t["reporter_id"],
                    "time": t["created_at"],
                    "message_id": None,
                    "detail": t["summary"],
                    "data": None,
                }
            )
            if t["closed_at"] is not None:
                out.append(
                    {
                        "ticket_id": t["id"],
                        "kind": "closed",
                        "actor_id": None,
                        "time": t["closed_at"],
                        "message_id": None,
                        "detail": "已结案",
                        "data": None,
                    }
                )
        return out

    for batch in _batches(tickets()):
        with db.engine.begin() as conn:
            conn.execute(insert(Ticket), batch)
            conn.execute(insert(TicketEvent), events(batch))
    with db.engine.begin() as conn:
        conn.execute(insert(Counter), [{"name": "ticket", "value": sizes.tickets}])
        if db.engine.dialect.name == "postgresql":
            for table in ("community", "compound", "building", "ticket", "ticketevent"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        else:
            conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "postgresql":
        # after a bulk load, as autovacuum would (it is off on some servers, this one included):
        # without the visibility map PostgreSQL reads every row instead of counting from indexes
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


# the read-only figures (digest, overview) are timed this often: a page is looked at again
# and again, and one timing on a shared machine says little; the median is judged
READ_RUNS = 3


def _timed_median(fn: Callable[[], Any]) -> tuple[float, Any, str]:
    """The median time of READ_RUNS runs, the last result, and every run's time for the note."""
    times: list[float] = []
    result: Any = None
    for _ in range(READ_RUNS):
        sec, result = _timed(fn)
        times.append(sec)
    runs = " / ".join(f"{t * 1000:,.0f}" for t in times)
    return sorted(times)[len(times) // 2], result, f"median of {READ_RUNS} runs: {runs} ms"


def measure(db_url: str, engine: str, sizes: Sizes) -> ScaleResult:
    """Generate the data on a fresh database and time the four figures."""
    result = ScaleResult(engine)
    settings = load_settings(ROOT / "config" / "demo.toml")
    db = Database(db_url)
    db.prepare()
    result.generate_s, _ = _timed(lambda: generate(db, sizes, settings))
    clock = SimClock(NOW, running=False)
    bot = build_bot(settings, db=db, clock=clock)
    s = bot.services
    directory = s.directory.reload_sync()
    settle_memory()  # as `python -m bot run` does once started
    result.loaded_mb, result.classifier_mb = loaded_rss_mb(db_url)
    categories = s.classifier.categories
    cid = 1
    ids = {b.id for b in directory.buildings.values() if b.community_id == cid}
    day = (NOW.astimezone(settings.tz) - timedelta(days=1)).date()

    def digest(session: Session) -> Any:
        return build_digest(
            session,
            settings=settings,
            directory=directory,
            categories=categories,
            building_ids=ids,
            title=directory.communities[cid][0],
            day=day,
            now=NOW,
        )

    sec, d, runs = _timed_median(lambda: db.call(digest))
    result.figures.append(
        (
            "digest of one community (50 rooms)",
            sec,
            0.2,
            f"{runs}; {d.month.total} tickets this month",
        )
    )
    prev = NOW.astimezone(settings.tz).replace(day=1) - timedelta(days=1)

    def report() -> int:
        data = db.call(collect, settings, directory, categories, prev.year, prev.month)
        with tempfile.TemporaryDirectory() as tmp:
            write_workbook(data, Path(tmp) / "report.xlsx")
        return len(data.ledger)

    sec, rows = _timed(report)
    result.figures.append(
        (
            f"monthly report {prev.year}-{prev.month:02d} of the district",
            sec,
            5.0,
            f"{rows:,} tickets in the ledger, workbook written",
        )
    )
    m_start, m_end = stats.local_month_bounds(NOW.year, NOW.month, settings.tz)
    today = NOW.astimezone(settings.tz).date()
    d_start, _ = stats.local_day_bounds(today, settings.tz)

    def overview(session: Session) -> OverviewFigures:
        # the dashboard's overview page, as a district-wide viewer (an admin) sees it
        return overview_figures(
            session,
            scope=[],
            building_ids=None,
            settings=settings,
            now=NOW,
            today_start=d_start,
            trend_first=today - timedelta(days=29),
            period_start=m_start,
            period_end=m_end,
        )

    sec, fig, runs = _timed_median(lambda: db.call(overview))
    open_now = sum(c.open for c in fig.counts.values())
    result.figures.append(
        (
            "dashboard overview (bot/web/queries.overview_figures, whole district)",
            sec,
            0.3,
            f"{runs}; {open_now:,} open tickets counted, each checked for overdue",
        )
    )
    sweep = DeadlineSweep(s)
    sec, (due, urgent) = _timed(lambda: db.call(sweep._due, NOW))
    result.figures.append(
        (
            f"deadline sweep's selection over {sizes.open_tickets:,} open tickets",
            sec,
            0.5,
            f"{len(due)} due, {len(urgent)} urgent found (the queries alone)",
        )
    )

    async def one_sweep() -> None:
        await sweep.run(NOW)

    sec, _ = _timed(lambda: asyncio.run(one_sweep()))
    result.figures.append(
        (
            f"deadline sweep over {sizes.open_tickets:,} open tickets",
            sec,
            0.5,
            f"{sizes.due} due tickets handled (reminders written)",
        )
    )
    db.close()
    gc.unfreeze()
    result.rss_mb = peak_rss_mb()
    return result


if __name__ == "__main__":  # python -m bot.bench_scale loaded-rss URL (see loaded_rss_mb)
    if sys.argv[1:2] == ["loaded-rss"] and len(sys.argv) == 3:
        from loguru import logger

        logger.remove()
        bot_mb, classifier_mb = _loaded_rss(sys.argv[2])
        print(f"peak-rss-mb {bot_mb:.1f} classifier-mb {classifier_mb:.1f}")
    else:
        sys.exit("usage: python -m bot.bench_scale loaded-rss DATABASE_URL")
