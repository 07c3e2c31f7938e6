"""The command line: `python -m bot run|migrate|report|vote-export`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from loguru import logger

from bot.logging import configure
from config.schema import ROOT, ConfigError, Settings, load_settings
from storage import Database, SchemaBehind

DEFAULT_CONFIG = ROOT / "config" / "demo.toml"


def _aware(text: str) -> datetime:
    """An ISO 8601 moment as aware UTC (a naive one is UTC)."""
    from bot.clock import as_utc

    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 moment: {text!r}") from None


def _prepared_db(settings: Settings) -> Database | None:
    """The configured database, created if new; None (logged) when its schema is behind."""
    db = Database(settings.bot.database)
    try:
        db.prepare()
    except SchemaBehind as e:
        logger.error("{}", e)
        db.close()
        return None
    return db


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    bot = settings.bot
    updates: dict[str, object] = {}
    if getattr(args, "channel", None):
        updates["channel"] = args.channel
    if getattr(args, "db", None):
        updates["database"] = args.db
    if updates:
        bot = bot.model_copy(update=updates)
    web = settings.web
    web_updates: dict[str, object] = {}
    if getattr(args, "host", None):
        web_updates["host"] = args.host
    if getattr(args, "port", None):
        web_updates["port"] = args.port
    if web_updates:
        web = web.model_copy(update=web_updates)
    return settings.model_copy(update={"bot": bot, "web": web})


def _run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import build_bot, create_app, settle_after_start

    settings = _settings(args)
    db = _prepared_db(settings)
    if db is None:
        return 2
    clock = None
    if args.sim_start or args.sim_frozen:
        from bot.simulator import SimClock

        if settings.bot.channel != "sim":
            print("--sim-start/--sim-frozen need the simulator channel", file=sys.stderr)
            return 2
        clock = SimClock(args.sim_start, running=not args.sim_frozen)
    bot = build_bot(settings, db=db, clock=clock, classify_process=settings.bot.classifier_process)
    if bot.sim is not None and args.sim_send_log:
        bot.sim.send_log = Path(args.sim_send_log)
    # a frozen simulator clock moves only through POST /api/sim/clock, which runs what falls
    # due: no real-time scheduler then (the process does the same thing for the same requests)
    app = create_app(bot, background=not (bot.sim is not None and args.sim_frozen))
    settle_after_start(app)
    host, port = settings.web.host, settings.web.port
    logger.info(
        "redsteward: channel={} database={} web=http://{}:{}/",
        settings.bot.channel,
        db.safe_url,
        host,
        port,
    )
    signins = [f"{p.name} / {p.password}" for p in settings.people if p.password]
    if signins and settings.bot.channel == "sim":
        # demo passwords from the simulator's config file, never a real deployment's
        logger.info(
            "demo sign-in at http://{}:{}/login — {} (from {})",
            host,
            port,
            "，".join(signins),
            settings.source,
        )
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = Database(settings.bot.database)
    before = db.current_revision()
    db.migrate()
    logger.info(
        "database {} migrated from {} to {}", db.safe_url, before or "empty", db.current_revision()
    )
    db.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    import functools
    import re

    from bot.report import collect, write_workbook
    from nlp import default_classifier
    from storage.directory import load_directory

    m = re.fullmatch(r"(\d{4})-(\d{1,2})", args.month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        print(f"--month must look like 2026-10, not {args.month!r}", file=sys.stderr)
        return 2
    year, month = int(m.group(1)), int(m.group(2))
    settings = _settings(args)
    db = _prepared_db(settings)
    if db is None:
        return 2
    directory = db.call(load_directory)
    community_id = None
    if args.community:
        community_id = next(
            (cid for cid, (n, _, _) in directory.communities.items() if n == args.community), None
        )
        if community_id is None:
            print(f"no community {args.community!r} in {db.safe_url}", file=sys.stderr)
            db.close()
            return 2
    categories = default_classifier().categories
    data = db.call(
        functools.partial(collect, community_id=community_id),
        settings,
        directory,
        categories,
        year,
        month,
    )
    db.close()
    out = write_workbook(data, Path(args.out))
    logger.info("report {}-{:02d}: {} ticket(s) written to {}", year, month, len(data.ledger), out)
    return 0


def _vote_export(args: argparse.Namespace) -> int:
    import functools

    from bot.vote_export import collect, write_vote_workbook
    from storage.directory import load_directory

    settings = _settings(args)
    db = _prepared_db(settings)
    if db is None:
        return 2
    directory = db.call(load_directory)
    data = db.call(functools.partial(collect, vote_id=args.vote), settings, directory)
    db.close()
    if data is None:
        print(f"no vote #{args.vote} in {db.safe_url}", file=sys.stderr)
        return 2
    out = write_vote_workbook(data, Path(args.out), settings.tz)
    logger.info("vote #{}: {} ballot(s) written to {}", args.vote, len(data.ballots), out)
    return 0


def _erase(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from handlers.personal_data import erase_person

    settings = _settings(args)
    db = _prepared_db(settings)
    if db is None:
        return 2
    try:
        now = SystemClock().now()
        done = db.call(lambda session: erase_person(session, args.person, now, "cli"))
    except LookupError:
        print(f"no person {args.person!r} in {db.safe_url}", file=sys.stderr)
        return 2
    except PermissionError:
        print(f"{args.person!r} holds a role: revoke it first", file=sys.stderr)
        return 2
    finally:
        db.close()
    logger.info(
        "personal data erased (now {}): {} message(s) blanked, {} ticket(s) kept anonymised",
        done.person_id,
        done.messages,
        done.tickets,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bot.bench import run
    from bot.bench_scale import Sizes

    sizes = None
    if args.tickets > 0:
        sizes = Sizes(
            rooms=args.rooms,
            tickets=args.tickets,
            open_tickets=min(args.open, args.tickets),
            due=min(args.due, args.open, args.tickets),
            months=args.months,
        )
    return run(
        args.messages,
        args.pg,
        args.concurrency,
        sizes,
        args.paced_rate,
        args.ingest_runs,
        args.pg_delay_ms,
    )


def main(argv: list[str] | None = None, *, configure_logging: bool = True) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="红管家 redsteward")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the bot and its web page")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--channel", choices=["sim", "wechaty"])
    run.add_argument("--db", help="SQLAlchemy URL (sqlite:///var/x.db, postgresql://...)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--log-level", default="INFO")
    run.add_argument(
        "--sim-start",
        type=_aware,
        help="simulator only: the clock's start, ISO 8601 (naive = UTC), e.g. 2026-11-23T02:00",
    )
    run.add_argument(
        "--sim-frozen",
        action="store_true",
        help="simulator only: time stands still except through POST /api/sim/clock",
    )
    run.add_argument(
        "--sim-send-log", help="simulator only: append every message sent to this file (JSONL)"
    )
    run.set_defaults(fn=_run)
    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    mig.add_argument("--db")
    mig.add_argument("--log-level", default="INFO")
    mig.set_defaults(fn=_migrate)
    rep = sub.add_parser("report", help="write a month's report (台账, rates, 红黑榜) as .xlsx")
    rep.add_argument("--month", required=True, help="YYYY-MM")
    rep.add_argument("--out", required=True, help="the .xlsx file to write")
    rep.add_argument("--community", help="one community (default: all)")
    rep.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    rep.add_argument("--db")
    rep.add_argument("--log-level", default="INFO")
    rep.set_defaults(fn=_report)
    ve = sub.add_parser("vote-export", help="write a vote's result and ballots as .xlsx")
    ve.add_argument("--vote", type=int, required=True, help="the vote's number (表决 #N)")
    ve.add_argument("--out", required=True, help="the .xlsx file to write")
    ve.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ve.add_argument("--db")
    ve.add_argument("--log-level", default="INFO")
    ve.set_defaults(fn=_vote_export)
    erase = sub.add_parser(
        "erase", help="erase a person's personal data (tickets stay, anonymised)"
    )
    erase.add_argument("--person", required=True, help="the person's chat id")
    erase.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    erase.add_argument("--db")
    erase.add_argument("--log-level", default="INFO")
    erase.set_defaults(fn=_erase)
    bench = sub.add_parser("bench", help="measure ingest and scale figures against baselines")
    bench.add_argument("--messages", type=int, default=10_000)
    bench.add_argument("--concurrency", type=int, default=32)
    bench.add_argument(
        "--paced-rate", type=float, default=200.0, help="latency: messages arriving per second"
    )
    bench.add_argument(
        "--ingest-runs",
        type=int,
        default=3,
        choices=range(1, 11),
        metavar="N",
        help="ingest: runs per engine (1-10); the goals are judged on the medians",
    )
    bench.add_argument("--pg", help="also on PostgreSQL at this URL (a scratch schema is used)")
    bench.add_argument(
        "--pg-delay-ms",
        type=float,
        default=0.0,
        help="with --pg: its ingest again through a proxy delaying each way by this much "
        "(the server across a network)",
    )
    bench.add_argument("--rooms", type=int, default=10_000, help="scale: rooms (= buildings)")
    bench.add_argument("--tickets", type=int, default=1_000_000, help="scale: 0 skips it")
    bench.add_argument("--open", type=int, default=100_000, help="scale: open tickets")
    bench.add_argument("--due", type=int, default=200, help="scale: due at the sweep")
    bench.add_argument("--months", type=int, default=36, help="scale: tickets spread over")
    bench.add_argument("--log-level", default="WARNING")
    bench.set_defaults(fn=_bench)
    args = parser.parse_args(argv)
    if configure_logging:
        configure(args.log_level)
        # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see a stuck process
        import faulthandler
        import signal

        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return int(args.fn(args))
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
