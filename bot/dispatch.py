"""From an incoming message to its effects: store it once, route it, answer it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loguru import logger

from bot.channel import Incoming
from bot.clock import as_utc
from config.schema import ROLE_LABELS
from handlers.basics import allowed
from handlers.consult import answer_consult
from handlers.context import Context, HandledBefore, Services
from handlers.errors import DomainError, NotAllowed
from handlers.intake import keep_possible_complaint, open_complaint, unbound_room_reply
from handlers.photos import handle_image
from handlers.privacy import mask_phones
from handlers.router import Invocation, Router, normalise
from handlers.votes import cast_reply, vote_reply
from nlp import Understanding
from storage.tickets import NewMessage, store_incoming, unhandled_messages

# what is stored of a single message (a 1 MB paste is kept in part, and says so)
MAX_STORED_CHARS = 65536
INTAKE_WORDS = ("报修", "投诉")
# senders seen by this process (id -> name): their row exists, no need to look
KNOWN_SENDERS_MAX = 200_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What handling a message did (for the simulator API and tests)."""

    message_id: int
    duplicate: bool
    intent: str | None
    ticket_id: int | None


def _new_message(
    msg: Incoming, text: str, now: datetime, known: bool, intent: str | None = None
) -> NewMessage:
    """The message to store (``intent``: stored as handled, with it, for chit-chat)."""
    return NewMessage(
        channel_message_id=msg.message_id,
        room_id=msg.room_id,
        sender_id=msg.sender_id,
        sender_name=msg.sender_name,
        text=text,
        time=as_utc(msg.time),
        received_at=now,
        kind=msg.kind,
        media_path=str(msg.media_path) if msg.media_path else None,
        new_sender=not known,
        intent=intent,
    )


class Dispatcher:
    """Routes incoming messages to handlers; one error handler turns domain errors to replies."""

    def __init__(self, services: Services, router: Router) -> None:
        self.services = services
        self.router = router
        self._senders: dict[str, str] = {}
        # channel ids of the messages being handled now, each with what is set when done
        self._handling: dict[str, asyncio.Event] = {}

    async def handle(self, msg: Incoming) -> Outcome:
        """Handle one incoming message exactly once.

        A copy delivered again while the first is still being handled waits for it, and is
        then recognised as handled (or, if the first could not even be stored, handled).
        """
        key = msg.message_id
        while (busy := self._handling.get(key)) is not None:
            await busy.wait()
        done = self._handling[key] = asyncio.Event()
        try:
            return await self._handle(msg)
        finally:
            del self._handling[key]
            done.set()

    async def _handle(self, msg: Incoming) -> Outcome:
        s = self.services
        if msg.sender_id == s.settings.bot.self_id:
            return Outcome(0, True, None, None)
        now = s.clock.now()
        text = (
            msg.text
            if len(msg.text) <= MAX_STORED_CHARS
            else (msg.text[:MAX_STORED_CHARS] + "…[超长消息已截断]")
        )

        known = self._senders.get(msg.sender_id) == msg.sender_name
        inv = self.router.find(msg.text)
        understood: Understanding | None = None
        if (
            msg.room_id is not None
            and msg.kind == "text"
            and not msg.mentions_self
            and inv is None
            and not _starts_with_intake(msg.text)
            and vote_reply(msg.text, msg.quoted_text) is None
        ):
            understood = await s.understand(text)
            if understood.intent == "none":
                # most group traffic: stored as handled, nothing else (the messages of many
                # groups at once are stored by one @batched call)
                quiet = await s.db.run(
                    store_incoming, _new_message(msg, text, now, known, intent="none")
                )
                self._remember(msg.sender_id, msg.sender_name)
                if quiet.duplicate:
                    logger.info("duplicate delivery of message {} ignored", msg.message_id)
                logger.debug(
                    "handled room={} sender={} intent=none",
                    msg.room_topic or msg.room_id,
                    msg.sender_id,
                )
                return Outcome(quiet.id, quiet.duplicate, "none", None)

        new = _new_message(msg, text, now, known)
        # one classified already (a complaint, a question) is stored by the transaction that
        # handles it, one instead of two (see Context.run)
        stored = None
        if understood is None:
            stored = await s.db.run(store_incoming, new)
            self._remember(msg.sender_id, msg.sender_name)
            if stored.duplicate and stored.handled:
                return self._ignored(msg, stored.id)
        ctx = Context(
            services=s,
            message_id=stored.id if stored else 0,
            channel_message_id=msg.message_id,
            sender_id=msg.sender_id,
            sender_name=msg.sender_name,
            text=text,
            room_id=msg.room_id,
            room_topic=msg.room_topic,
            mentions=msg.mentions,
            mentions_self=msg.mentions_self,
            now=now,
            building=s.directory.current.building_of_room(msg.room_id),
            unstored=None if stored else new,
            duplicate=stored.duplicate if stored else False,
        )
        try:
            await self._answer(ctx, msg, understood, inv)
        except HandledBefore:
            return self._ignored(msg, ctx.message_id)
        if stored is None:
            self._remember(msg.sender_id, msg.sender_name)
        logger.info(
            "handled room={} sender={} intent={} ticket={}",
            msg.room_topic or msg.room_id or "private",
            msg.sender_id,
            ctx.intent,
            ctx.ticket_id,
        )
        return Outcome(ctx.message_id, ctx.duplicate, ctx.intent, ctx.ticket_id)

    async def _answer(
        self,
        ctx: Context,
        msg: Incoming,
        understood: Understanding | None,
        inv: Invocation | None,
    ) -> None:
        """Route the message and finish it; a refusal or a failure is answered too."""
        try:
            await self._route(ctx, msg, understood, inv)
            await ctx.finish()
        except HandledBefore:
            raise  # nothing was done: nothing to answer
        except DomainError as e:
            logger.info(
                "refused {} from {}: {}", log_safe(ctx.text)[:40], msg.sender_id, log_safe(e.reply)
            )
            ctx.intent = ctx.intent or "command"
            ctx.say(e.reply, mention_sender=True)
            await ctx.finish()
        except Exception:
            logger.exception(
                "handling message {} in {} from {} failed",
                msg.message_id,
                msg.room_id,
                msg.sender_id,
            )
            # (a message to be stored with its handling is stored now, with the apology)
            ctx.intent = "error"
            ctx.say("抱歉，我处理这条消息时出了问题，已记录，请稍后再试或直接联系红色管家。")
            await ctx.finish()

    def _ignored(self, msg: Incoming, message_id: int) -> Outcome:
        """A delivery again of a message handled before: nothing done."""
        self._remember(msg.sender_id, msg.sender_name)
        logger.info("duplicate delivery of message {} ignored", msg.message_id)
        return Outcome(message_id, True, None, None)

    def _remember(self, sender_id: str, name: str) -> None:
        if len(self._senders) >= KNOWN_SENDERS_MAX:
            self._senders.clear()
        self._senders[sender_id] = name

    async def _route(
        self,
        ctx: Context,
        msg: Incoming,
        understood: Understanding | None,
        inv: Invocation | None,
    ) -> None:
        if inv is None and ctx.mentions_self:
            # "@红管家 报修 …" or "@红管家 #接单 1" : the mention is an address, not content
            stripped = _strip_mentions(msg.text)
            inv = self.router.find(stripped) or self.router.find("#" + stripped)
        if msg.kind == "image":
            # a photo: kept by content hash, attached to the ticket it shows (handlers/photos)
            await handle_image(ctx, msg.media_path, msg.quoted_text)
            return
        reply = vote_reply(msg.text, msg.quoted_text) if inv is None else None
        if reply is not None:
            # "2" in reply to the vote's post is a ballot
            await cast_reply(ctx, *reply)
            return
        if inv is not None:
            ctx.intent = "command"
            cmd = inv.command
            if not allowed(ctx, cmd.roles):
                # the ladder's order (steward, grid worker, ... admin), not the alphabet's
                order = {r: i for i, r in enumerate(ROLE_LABELS)}
                ranked = sorted(cmd.roles or (), key=lambda r: (order.get(r, len(order)), r))
                who = "、".join(ROLE_LABELS.get(r, r) for r in ranked)
                raise NotAllowed(
                    f"抱歉，“{cmd.name}”只有{who}可以使用。发送 #帮助 查看您能用的命令。"
                )
            known = {pid: p.name for pid, p in ctx.directory.people.items()}
            mentions = [(pid, known.get(pid, pid)) for pid in msg.mentions]
            args = cmd.parse(inv.raw_args, mentions)
            await cmd.handler(ctx, args)
            return
        if ctx.is_private:
            ctx.intent = "private"
            ctx.say(ctx.settings.template("private_hint").format(bot=ctx.settings.bot.name))
            return
        u = understood or await self.services.understand(ctx.text)
        explicit = ctx.mentions_self or _starts_with_intake(ctx.text)
        if explicit:
            u = u.as_complaint(ctx.settings.tickets.default_category)
        if u.intent == "complaint" and (ctx.building is None):
            ctx.intent = "complaint"
            ctx.say(unbound_room_reply(ctx).text)
            return
        if u.intent == "complaint" and not u.borderline:
            await open_complaint(ctx, u, explicit=explicit)
        elif u.intent == "complaint":
            await keep_possible_complaint(ctx, u)
        elif u.intent == "consult":
            await answer_consult(ctx, u)
        else:
            ctx.intent = "none"

    async def recover(self) -> int:
        """Handle messages stored before a crash but never handled."""
        rows = await self.services.db.run(unhandled_messages)
        for m in rows:
            topic = self.services.directory.current.rooms.get(m.room_id or "", (None, None))[0]
            await self.handle(
                Incoming(
                    message_id=m.channel_message_id,
                    sender_id=m.sender_id,
                    sender_name=m.sender_name,
                    text=m.text,
                    time=m.time,
                    room_id=m.room_id,
                    room_topic=topic,
                    kind="image" if m.kind == "image" else "text",
                    media_path=Path(m.media_path) if m.media_path else None,
                )
            )
        if rows:
            logger.warning("recovered {} message(s) left unhandled by the last run", len(rows))
        return len(rows)


def _strip_mentions(text: str) -> str:
    t = normalise(text)
    while t.startswith("@"):
        _, _, t = t.partition(" ")
    return t.strip()


def _starts_with_intake(text: str) -> bool:
    t = _strip_mentions(text)
    return t.startswith(INTAKE_WORDS) and len(t) > 2


def log_safe(text: str) -> str:
    """A message text fit for the log: phone numbers masked."""
    return mask_phones(text)
