"""The app factory: one aiohttp application owns the database, channel, scheduler and web."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from bot.channel import Channel, Incoming, RoomEvent
from bot.classify_process import ClassifierProcess, batches_for
from bot.clock import Clock, SystemClock
from bot.dispatch import Dispatcher
from bot.logging import route_std_logging
from bot.outbox import OutboxSender
from bot.setup import sync_config
from bot.simulator import SimChannel, SimClock
from bot.tasks import cancel_and_wait
from bot.timekeeper import DueWork, Timekeeper
from config.schema import Settings
from handlers.context import DirectoryHolder, Services
from handlers.main import build_router
from handlers.sla import fill_overdue
from nlp import Classifier, default_classifier
from nlp.classifier import DEFAULT_TAXONOMY
from storage import Database
from storage import outbox as outbox_q
from storage.models import Room

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(slots=True)
class Bot:
    """Everything the running bot is made of."""

    services: Services
    channel: Channel
    dispatcher: Dispatcher
    outbox: OutboxSender
    timekeeper: Timekeeper
    sim: SimChannel | None
    scheduler: AsyncIOScheduler | None = None  # while the app runs in the background
    classify_process: ClassifierProcess | None = None  # started by start_bot


BOT = web.AppKey("bot", Bot)
SETTINGS = web.AppKey("settings", Settings)
JINJA = web.AppKey("jinja", jinja2.Environment)


def build_bot(
    settings: Settings,
    *,
    db: Database,
    channel: Channel | None = None,
    clock: Clock | None = None,
    classifier: Classifier | None = None,
    work: list[DueWork] | None = None,
    classify_process: bool = False,
) -> Bot:
    """Wire the parts together (nothing is started).

    classify_process: classify messages in a child process (what `python -m bot run` does
    unless [bot] classifier_process is off); only with the default classifier.
    """
    sim: SimChannel | None = None
    if channel is None:
        if settings.bot.channel == "sim":
            clock = clock or SimClock()
            assert isinstance(clock, SimClock) or hasattr(clock, "set")
            sim = SimChannel(
                settings.bot.self_id,
                settings.bot.name,
                clock,  # type: ignore[arg-type]
                topics={r.id: r.topic for r in settings.rooms},
            )
            channel = sim
        else:
            from bot.channels.wechaty_adapter import WechatyChannel  # only here, on demand

            channel = WechatyChannel.from_settings(settings)
    elif isinstance(channel, SimChannel):
        sim = channel
    clock = clock or SystemClock()
    process: ClassifierProcess | None = None
    taxonomy = Path(settings.bot.taxonomy) if settings.bot.taxonomy else DEFAULT_TAXONOMY
    if classify_process and classifier is None:
        # this process keeps the taxonomy (labels, words) but not jieba's dictionary: the
        # child has its own, and this one is loaded only if the child cannot answer
        classifier = Classifier.from_file(taxonomy, load_now=False)
        batch, in_flight = batches_for(db.engine.dialect.name)
        process = ClassifierProcess(classifier, taxonomy, max_batch=batch, max_in_flight=in_flight)
    elif classifier is None and settings.bot.taxonomy:
        classifier = Classifier.from_file(taxonomy)
    services = Services(
        settings=settings,
        db=db,
        clock=clock,
        directory=DirectoryHolder(db),
        classifier=classifier or default_classifier(),
    )
    dispatcher = Dispatcher(services, build_router())
    outbox = OutboxSender(db, channel, settings.outbox, settings.bot.self_id)
    if work is None:
        from bot.jobs import build_work

        work = build_work(services)
    timekeeper = Timekeeper(clock, outbox, list(work))
    return Bot(services, channel, dispatcher, outbox, timekeeper, sim, classify_process=process)


def settle_memory() -> None:
    """After start-up: collect once, then leave what is alive now out of later collections.

    The directory, the classifier's dictionaries and the app live for the whole run; a full
    collection walking their hundreds of thousands of objects would land inside some message's
    handling (100 ms and more at a district's size). New objects are collected as usual.
    """
    gc.collect()
    gc.freeze()


async def _settle_memory(app: web.Application) -> None:
    settle_memory()


def settle_after_start(app: web.Application) -> None:
    """Settle memory once the app has started (for a long-running process, not for tests)."""
    app.on_startup.append(_settle_memory)


async def _on_room_event(bot: Bot, event: RoomEvent) -> None:
    """A renamed group stays bound to its building: only the topic is updated."""
    now = bot.services.clock.now()

    def update(session):  # type: ignore[no-untyped-def]
        room = session.get(Room, event.room_id)
        if room is None:
            room = Room(id=event.room_id, topic=event.topic, updated_at=now)
        room.topic = event.topic
        room.updated_at = now
        room.account = bot.services.settings.bot.self_id  # this account sits in it
        session.add(room)

    await bot.services.db.run(update)
    await bot.services.directory.reload()
    logger.info(
        "room {} {}: topic {!r} (was {!r})", event.room_id, event.kind, event.topic, event.old_topic
    )


async def start_bot(bot: Bot) -> None:
    """Prepare the database, load the directory, recover, and start the channel."""
    s = bot.services
    if bot.classify_process is not None:
        try:
            await bot.classify_process.start()
            s.classify_elsewhere = bot.classify_process.classify
        except Exception as exc:
            logger.error("the classifier process did not start ({!r}): classifying here", exc)
    now = s.clock.now()
    await s.db.run(sync_config, s.settings, now)
    await s.directory.reload()
    filled = await s.db.run(fill_overdue, s.settings)
    if filled:
        logger.info("{} open ticket(s) had no overdue moment stored yet: computed", filled)
    requeued = await s.db.run(outbox_q.recover_sending, s.settings.bot.self_id)
    if requeued:
        logger.warning("{} message(s) were mid-send when the last run stopped: re-queued", requeued)

    async def on_message(msg: Incoming) -> None:
        await bot.dispatcher.handle(msg)

    async def on_event(event: RoomEvent) -> None:
        await _on_room_event(bot, event)

    await bot.channel.start(on_message, on_event)
    await bot.dispatcher.recover()


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    bot = app[BOT]
    db = bot.services.db
    await asyncio.get_running_loop().run_in_executor(None, db.prepare)
    await start_bot(bot)
    yield
    await bot.channel.stop()
    await stop_classifying(bot)
    db.close()


async def stop_classifying(bot: Bot) -> None:
    """Stop the classifier process, if there is one (messages still coming are classified here)."""
    if bot.classify_process is not None:
        await bot.classify_process.close()


DIRECTORY_REFRESH_SECONDS = 10


async def _refresh_directory(bot: Bot) -> None:
    try:
        if await bot.services.directory.refresh():
            logger.info("directory changed in another process: snapshot reloaded")
    except Exception:
        logger.exception("directory refresh failed")


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """APScheduler drives the ticks in real time; the simulator's clock API drives them too."""
    bot = app[BOT]
    scheduler = AsyncIOScheduler(timezone=bot.services.settings.bot.timezone)
    wake = asyncio.Event()
    bot.services.wake_outbox = wake.set
    scheduler.add_job(
        bot.timekeeper.tick, "interval", seconds=15, id="tick", max_instances=1, coalesce=True
    )
    # another process (one per WeChat account) may have changed buildings, people or roles
    scheduler.add_job(
        _refresh_directory,
        "interval",
        args=[bot],
        seconds=DIRECTORY_REFRESH_SECONDS,
        id="directory",
        max_instances=1,
        coalesce=True,
    )
    # the calendar jobs also wake the timekeeper at their exact moment (the same triggers
    # give their next_due in the simulator); the tick runs every job due by then
    for w in bot.timekeeper.work:
        trigger = getattr(w, "trigger", None)
        if trigger is not None:
            scheduler.add_job(
                bot.timekeeper.tick,
                trigger,
                id=f"due:{w.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
    scheduler.start()
    bot.scheduler = scheduler

    async def outbox_loop() -> None:
        while True:
            # asyncio.wait, not wait_for: in 3.11 wait_for can lose the shutdown's cancel
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({woken}, timeout=1.0)
            finally:
                woken.cancel()
            wake.clear()
            try:
                await bot.outbox.drain(bot.services.clock.now())
            except Exception:
                logger.exception("outbox drain failed")

    task = asyncio.create_task(outbox_loop(), name="outbox")
    yield
    # a send in progress may sit in a channel's wait_for: cancelled again until it ends
    await cancel_and_wait(task, within=30, what="the outbox loop")
    scheduler.shutdown(wait=False)
    bot.scheduler = None


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api/ every error is JSON with a message (aiohttp's own 404/405/413 are text)."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if not request.path.startswith("/api/") or e.status < 400:
            raise
        if e.content_type == "application/json":
            raise
        headers = {k: v for k, v in e.headers.items() if k.lower() == "allow"}
        return web.json_response(
            {"error": e.reason or str(e.status)}, status=e.status, headers=headers
        )


def create_app(bot: Bot, *, background: bool = True) -> web.Application:
    """The web app around a bot: lifecycle, simulator API, JSON API, dashboard, Open311."""
    from bot import api, media, sim_api
    from bot import web as dashboard

    route_std_logging()
    app = web.Application(
        client_max_size=max(2 * 1024 * 1024, bot.services.settings.media.max_bytes * 2),
        middlewares=[api_errors],
    )
    app[BOT] = bot
    app[SETTINGS] = bot.services.settings
    app[JINJA] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_database_ctx)
    if background:
        app.cleanup_ctx.append(_scheduler_ctx)
    api.setup(app)
    dashboard.setup(app)
    media.setup(app)
    if bot.sim is not None:
        sim_api.setup(app)
    return app


TICK = timedelta(seconds=15)
