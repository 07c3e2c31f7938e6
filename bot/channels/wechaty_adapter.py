"""The Wechaty channel: WeChat through a Wechaty puppet service (gRPC), via python-wechaty.

This is the only module that imports ``wechaty`` / ``wechaty_puppet*``. The imports are lazy
(inside ``_wechaty()``), so the rest of the bot runs without the optional ``wechaty`` extra.

python-wechaty 0.10.7 (with wechaty-puppet 0.4.23, wechaty-puppet-service 0.8.10) imports
``telnetlib``, removed in Python 3.13: this channel needs Python 3.11 or 3.12.

We drive python-wechaty's ``PuppetService`` (the gRPC client of the puppet-service protocol)
directly rather than its ``Wechaty`` facade, because the facade cannot reconnect: its
``Contact``/``Room`` pools are shared by every instance and keep talking to the first puppet,
``Room.ready(force_sync=True)`` never refreshes a cached topic, each login starts a scheduler
and checks port 5000 for a plugin web server, and ``start()`` swallows errors and sleeps 60 s.
Our ``PuppetService`` always gets its endpoint and dials it itself (``_init_puppet``): no
look-up on api.chatie.io, no telnet probe, TLS with a CA we choose, and the token sent both
as ``authorization: Wechaty <token>`` and as ``:authority`` (what older gateways read).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import ipaddress
import json
import mimetypes
import os
import re
import ssl
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from loguru import logger

from bot.channel import (
    ChannelError,
    Incoming,
    MessageHandler,
    Outgoing,
    RoomEvent,
    RoomEventHandler,
)
from bot.tasks import cancel_and_wait
from config.schema import ConfigError, Settings

# WeChat clients show a quoted reply as「name：quoted」, a dashed line, then the reply.
_QUOTE = re.compile(r"^「(?P<quoted>.*?)」\n(?:- ){5,}-?\n(?P<reply>.*)$", re.DOTALL)
_T = TypeVar("_T")
# how long a lost connection waits for a running message handler before cancelling it
HANDLER_GRACE_SECONDS = 30.0
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@cache
def _wechaty() -> SimpleNamespace:
    """Import python-wechaty's puppet-service client once, with the fixes it needs on 3.11."""
    # python-wechaty's own stdlib loggers: quiet unless asked for (we log through loguru).
    os.environ.setdefault("WECHATY_LOG", "warn")
    with warnings.catch_warnings():
        # wechaty_puppet_service.utils imports telnetlib (deprecated in 3.11, gone in 3.13)
        warnings.filterwarnings("ignore", message=".*telnetlib.*", category=DeprecationWarning)
        from wechaty_puppet.schemas.puppet import PuppetOptions

        # wechaty 0.10.7's dataclasses use PuppetOptions() as a default, which Python 3.11
        # refuses for unhashable dataclasses; hashing by identity is what it meant.
        PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment,method-assign]

        import wechaty_puppet_service
        from grpclib.client import Channel
        from grpclib.config import Configuration
        from wechaty_grpc.wechaty import PuppetStub
        from wechaty_puppet import FileBox, MessageType
        from wechaty_puppet.file_box.type import FileBoxType

    import logging

    # its constructor logs the token at WARNING level when both endpoint and token are set
    logging.getLogger("PuppetService").setLevel(logging.ERROR)
    # FileBox warns on every image that its own mimeType attribute is deprecated
    logging.getLogger("FileBox").setLevel(logging.ERROR)

    return SimpleNamespace(
        PuppetService=wechaty_puppet_service.PuppetService,
        PuppetOptions=PuppetOptions,
        PuppetStub=PuppetStub,
        Channel=Channel,
        Configuration=Configuration,
        FileBox=FileBox,
        FileBoxType=FileBoxType,
        MessageType=MessageType,
    )


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """Host and port of a puppet-service endpoint written as ``host:port``."""
    text = endpoint.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"puppet-service endpoint {endpoint!r}: bad port") from exc
    if not parts.hostname or port is None:
        raise ValueError(f"puppet-service endpoint {endpoint!r} must be host:port")
    return parts.hostname, port


def is_loopback(host: str) -> bool:
    """True when host names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_server_name(token: str) -> str | None:
    """The TLS server name a Wechaty token carries: the part before its last underscore."""
    head, sep, _ = token.rpartition("_")
    return head if sep and head else None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def split_quote(text: str) -> tuple[str, str | None]:
    """The reply and the quoted text of a WeChat quoted-reply message (quoted is None if none)."""
    match = _QUOTE.match(text)
    if not match:
        return text, None
    return match.group("reply"), match.group("quoted")


def _utc(timestamp: float) -> datetime:
    """A puppet timestamp (seconds or milliseconds since the epoch) as an aware UTC time."""
    if timestamp <= 0:
        return datetime.now(UTC)
    seconds = timestamp / 1000 if timestamp > 100_000_000_000 else timestamp
    return datetime.fromtimestamp(seconds, UTC)


def _file_box_json(path: Path) -> str:
    """A file as a base64 FileBox in its JSON wire form (the file-box npm package's toJSON).

    python-wechaty's FileBox.to_json_str() warns through deprecated APIs on every call; the
    wire form is small and stable, so we write it ourselves.
    """
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    box = {"type": 1, "boxType": 1, "name": path.name, "base64": data, "mediaType": media_type}
    return json.dumps(box, ensure_ascii=False)


def _close_channel(conn: _Connection) -> None:
    channel = getattr(conn.puppet, "channel", None)
    if channel is not None:
        channel.close()


@dataclass
class _Connection:
    """One live connection to the puppet service: torn down whole, never repaired."""

    number: int
    puppet: Any
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    logged_in: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    stream: asyncio.Task[None] | None = None
    dispatcher: asyncio.Task[None] | None = None
    closing: bool = False
    scan_seen: bool = False
    topics: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    self_id: str = ""
    lost_reason: str = ""


class WechatyChannel:
    """The channel port over a Wechaty puppet service, reconnecting with backoff."""

    name = "wechaty"

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        media_dir: Path,
        tls: bool = True,
        ca_file: Path | None = None,
        ca_pem: str | None = None,
        insecure: bool = False,
        server_name: str | None = None,
        probe_interval: float = 30.0,
        rpc_timeout: float = 15.0,
        login_timeout: float = 30.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        expected_self_id: str | None = None,
    ) -> None:
        host, port = split_endpoint(endpoint)
        if not token:
            raise ValueError("a puppet-service token is required (WECHATY_PUPPET_SERVICE_TOKEN)")
        plain = insecure or not tls
        if plain and not insecure:
            raise ValueError(
                "TLS is off but insecure is not set: plain-text gRPC needs insecure=True "
                "(and is allowed for a loopback endpoint only)"
            )
        if plain and not is_loopback(host):
            raise ValueError(
                f"insecure (plain-text) gRPC is allowed for a loopback endpoint only, "
                f"not {host!r}: use TLS with a CA file instead"
            )
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"CA file {ca_file} does not exist")
        self._host, self._port = host, port
        self._token = token
        self._tls = not plain
        self._ca_file = Path(ca_file) if ca_file is not None else None
        self._ca_pem = ca_pem
        self._server_name = server_name or token_server_name(token) or host
        self._media_dir = Path(media_dir)
        try:
            self._ssl = self._ssl_context() if self._tls else None
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"the TLS CA certificate cannot be used: {exc}") from exc
        self._probe_interval = probe_interval
        self._rpc_timeout = rpc_timeout
        self._login_timeout = login_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._expected_self_id = expected_self_id

        self._on_message: MessageHandler | None = None
        self._on_room_event: RoomEventHandler | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._self_id = ""
        self._attempts = 0
        self._rooms_logged = False
        self._stopping = False

    @classmethod
    def from_settings(cls, settings: Settings) -> WechatyChannel:
        """The channel as configured: [wechaty] in the file, Wechaty's variables overriding it.

        WECHATY_PUPPET_SERVICE_ENDPOINT and WECHATY_PUPPET_SERVICE_TOKEN win over the file, so
        the token can live in a service's environment file rather than in the configuration;
        WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT=true turns TLS off (loopback only),
        WECHATY_PUPPET_SERVICE_TLS_CA_CERT (PEM text) and ..._TLS_SERVER_NAME set up TLS, as
        for Wechaty's own clients.
        """
        c = settings.wechaty
        env = os.environ
        endpoint = env.get("WECHATY_PUPPET_SERVICE_ENDPOINT") or c.endpoint
        token = env.get("WECHATY_PUPPET_SERVICE_TOKEN") or c.token
        insecure = c.insecure or _truthy(env.get("WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT"))
        if not endpoint:
            raise ConfigError(
                "channel wechaty needs [wechaty] endpoint (or WECHATY_PUPPET_SERVICE_ENDPOINT)"
            )
        try:
            return cls(
                endpoint,
                token,
                media_dir=Path(settings.bot.media_dir),
                tls=c.tls,
                ca_file=Path(c.ca_file) if c.ca_file else None,
                ca_pem=env.get("WECHATY_PUPPET_SERVICE_TLS_CA_CERT") or None,
                server_name=env.get("WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME") or None,
                insecure=insecure,
                expected_self_id=settings.bot.self_id,
            )
        except ValueError as exc:
            raise ConfigError(f"[wechaty]: {exc}") from None

    # -- the port -------------------------------------------------------------------------

    @property
    def self_id(self) -> str:
        """The bot's own chat id ('' until the first login)."""
        return self._self_id

    @property
    def connected(self) -> bool:
        """True while a connection is up and its account logged in."""
        return self._connected.is_set()

    async def start(self, on_message: MessageHandler, on_room_event: RoomEventHandler) -> None:
        """Connect in the background; wait (up to login_timeout) for the first login."""
        if self._supervisor is not None:
            raise RuntimeError("WechatyChannel already started")
        self._media_dir.mkdir(parents=True, exist_ok=True)
        self._on_message, self._on_room_event = on_message, on_room_event
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name="wechaty-supervisor")
        if not await self.wait_connected(self._login_timeout):
            logger.warning(
                "wechaty: not logged in after {:.0f}s; still trying {}:{} in the background",
                self._login_timeout,
                self._host,
                self._port,
            )

    async def wait_connected(self, within: float) -> bool:
        """Wait (at most `within` seconds) until connected and logged in; False if not."""
        try:
            await asyncio.wait_for(self._connected.wait(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Disconnect and stop reconnecting.

        The supervisor is cancelled again every second until it ends: a cancellation that
        lands while an RPC completes can be lost in Python 3.11's ``wait_for``, and a lost
        one must not leave the channel reconnecting forever (nor hang the event loop's
        shutdown, which waits for every task).
        """
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            # a shutdown must end: the teardown gives a running handler HANDLER_GRACE_SECONDS
            ended = await cancel_and_wait(
                supervisor, within=HANDLER_GRACE_SECONDS + 15, what="the wechaty connection"
            )
            if not ended:
                return
            if not supervisor.cancelled() and supervisor.exception() is not None:
                logger.opt(exception=supervisor.exception()).error("wechaty: supervisor failed")
        logger.info("wechaty: stopped")

    async def send(self, message: Outgoing) -> str | None:
        """Send a text (room with @-mentions, or private) or an image; return the message id.

        An image with a text goes out as two messages, the image first; if the text then
        fails, the ChannelError makes the outbox retry both.
        """
        conn = self._conn
        if conn is None or not self.connected:
            raise ChannelError("wechaty: not connected to the puppet service")
        if (message.room_id is None) == (message.person_id is None):
            raise ChannelError("wechaty: an Outgoing needs exactly one of room_id and person_id")
        conversation = message.room_id or message.person_id or ""
        message_id: str | None = None
        try:
            if message.image_path is not None:
                box = await asyncio.to_thread(_file_box_json, Path(message.image_path))
                response = await self._rpc(
                    conn,
                    conn.puppet.puppet_stub.message_send_file(
                        conversation_id=conversation, filebox=box
                    ),
                )
                message_id = response.id
            if message.text or message.image_path is None:
                text = message.text
                mentions = list(message.mentions) if message.room_id else []
                if mentions:
                    room_id = message.room_id or ""
                    text = await self._with_mention_names(conn, room_id, text, mentions)
                message_id = await self._rpc(
                    conn, conn.puppet.message_send_text(conversation, text, mentions or None)
                )
        except ChannelError:
            raise
        except Exception as exc:
            raise ChannelError(f"wechaty: send to {conversation} failed: {exc!r}") from exc
        logger.debug("wechaty: sent {} to {}", message_id or "(no id)", conversation)
        return message_id or None

    async def room_topics(self) -> dict[str, str]:
        """The rooms the bot is in, by id, with their topics."""
        conn = self._conn
        if conn is None or not self.connected:
            raise ChannelError("wechaty: not connected to the puppet service")
        try:
            room_ids = await self._rpc(conn, conn.puppet.room_list())
            return {room_id: await self._topic(conn, room_id) for room_id in room_ids}
        except Exception as exc:
            raise ChannelError(f"wechaty: room list failed: {exc!r}") from exc

    # -- connection lifecycle ---------------------------------------------------------------

    async def _supervise(self) -> None:
        """Connect, watch, tear down, back off, reconnect — until stopped."""
        delay = self._backoff_initial
        while not self._stopping:
            self._attempts += 1
            number = self._attempts
            conn: _Connection | None = None
            try:
                logger.info(
                    "wechaty: connecting to {}:{} ({}), attempt {}",
                    self._host,
                    self._port,
                    f"TLS, server name {self._server_name!r}" if self._tls else "plain, loopback",
                    number,
                )
                conn = await self._connect(number)  # tears down its own failures
                if not self._rooms_logged:
                    self._rooms_logged = True
                    await self._log_rooms()
                delay = self._backoff_initial  # it worked: the next outage starts small again
                reason = await self._watch(conn)
                logger.warning("wechaty: connection {} lost: {}", number, reason)
            except asyncio.CancelledError:
                if conn is not None:
                    await self._teardown(conn)
                raise
            except Exception as exc:
                logger.warning("wechaty: connection attempt {} failed: {!r}", number, exc)
            if conn is not None:
                await self._teardown(conn)
            logger.info("wechaty: reconnecting in {:.1f}s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)

    def _make_puppet(self) -> Any:
        """A python-wechaty PuppetService that dials our endpoint with our TLS settings."""
        w = _wechaty()
        host, port, token = self._host, self._port, self._token
        ssl_context = self._ssl
        config = None
        if ssl_context is not None:
            config = w.Configuration(ssl_target_name_override=self._server_name)

        class _Puppet(w.PuppetService):  # type: ignore[misc,name-defined]
            def _init_puppet(self) -> None:
                # replaces the library's: no chatie.io look-up, no telnet probe, TLS when asked
                self.channel = w.Channel(host=host, port=port, ssl=ssl_context, config=config)
                # older gateways read the token from :authority, newer from authorization
                self.channel._authority = token
                self._puppet_stub = w.PuppetStub(
                    self.channel, metadata={"authorization": f"Wechaty {token}"}
                )

        with warnings.catch_warnings():
            # PuppetService() builds a pyee.AsyncIOEventEmitter, deprecated in pyee 11
            warnings.filterwarnings(
                "ignore", message=".*pyee.asyncio.*", category=DeprecationWarning
            )
            return _Puppet(w.PuppetOptions(end_point=f"{host}:{port}", token=token))

    def _ssl_context(self) -> ssl.SSLContext:
        """TLS for gRPC: verify the gateway against the given CA (or the system store), h2 only."""
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(self._ca_file) if self._ca_file else None,
            cadata=self._ca_pem,
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2"])
        return context

    async def _connect(self, number: int) -> _Connection:
        """Open one connection, start the puppet and wait for its login."""
        conn = _Connection(number=number, puppet=self._make_puppet())
        self._conn = conn
        try:
            await self._open(conn)
        except BaseException:
            await self._teardown(conn)
            raise
        self._self_id = conn.self_id
        self._connected.set()
        logger.info("wechaty: connection {} up, logged in as {}", number, conn.self_id)
        if self._expected_self_id and conn.self_id != self._expected_self_id:
            logger.warning(
                "wechaty: logged in as {}, but the configuration says the bot is {} ([bot] self_id)",
                conn.self_id,
                self._expected_self_id,
            )
        return conn

    async def _log_rooms(self) -> None:
        """Name the bot's groups once, so an operator can copy room ids into the config."""
        try:
            topics = await self.room_topics()
        except ChannelError as exc:
            logger.warning("wechaty: could not list the groups: {}", exc)
            return
        logger.info("wechaty: the account is in {} group(s)", len(topics))
        for room_id, topic in list(topics.items())[:100]:
            logger.info("wechaty:   room id {!r}  topic {!r}", room_id, topic)

    async def _open(self, conn: _Connection) -> None:
        puppet = conn.puppet
        for event in ("message", "room-join", "room-topic", "login", "logout", "scan", "error"):
            puppet.on(event, self._enqueue(conn, event))
        puppet.on("heartbeat", lambda payload: logger.trace("wechaty: heartbeat {}", payload))
        number = conn.number
        conn.stream = asyncio.create_task(self._stream(conn), name=f"wechaty-stream-{number}")
        conn.dispatcher = asyncio.create_task(self._dispatch(conn), name=f"wechaty-events-{number}")
        while True:
            logged_in = asyncio.create_task(conn.logged_in.wait())
            lost = asyncio.create_task(conn.lost.wait())
            try:
                done, _ = await asyncio.wait(
                    {logged_in, lost},
                    timeout=self._login_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                logged_in.cancel()
                lost.cancel()
            if logged_in in done:
                return
            if done:
                raise ChannelError(f"no login: {conn.lost_reason}")
            if not conn.scan_seen:
                raise ChannelError(f"no login within {self._login_timeout:.0f}s")
            # a person has to scan the QR code: keep this connection while its peer answers
            await self._rpc(conn, conn.puppet.puppet_stub.version())
            logger.warning("wechaty: still waiting for the QR code to be scanned")

    def _enqueue(self, conn: _Connection, event: str) -> Callable[[Any], None]:
        """A pyee listener that queues the event, so events are handled one by one, in order."""

        def listener(payload: Any) -> None:
            conn.events.put_nowait((event, payload))

        return listener

    async def _stream(self, conn: _Connection) -> None:
        """Run the puppet's start(): stop/start RPCs, then the event stream until it ends."""
        try:
            await conn.puppet.start()
            conn.lost_reason = "the gateway ended the event stream"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            conn.lost_reason = f"the event stream failed: {exc!r}"
        conn.lost.set()

    async def _watch(self, conn: _Connection) -> str:
        """Wait until the connection is lost; probe it with a cheap RPC between events."""
        while True:
            try:
                await asyncio.wait_for(conn.lost.wait(), self._probe_interval)
                return conn.lost_reason
            except TimeoutError:
                pass
            try:
                await self._rpc(conn, conn.puppet.puppet_stub.version())
            except Exception as exc:
                return f"the gateway did not answer a version() probe: {exc!r}"

    async def _teardown(self, conn: _Connection) -> None:
        """Drop a connection: end its stream, let a running handler finish, close the channel.

        No RPC goes to the peer (it may be dead); a message handler that is running is given
        time to finish rather than being cancelled halfway through the bot's work. The
        connection's tasks are awaited with ``asyncio.wait``, which never swallows the
        caller's own cancellation; if the teardown itself is cancelled, its tasks are
        cancelled and the channel is closed all the same.
        """
        if self._conn is conn:
            self._conn = None
            self._connected.clear()
        conn.closing = True
        try:
            if conn.stream is not None:
                conn.stream.cancel()
                await asyncio.wait({conn.stream})
            if conn.dispatcher is not None:
                conn.events.put_nowait(("close", None))
                done, _ = await asyncio.wait({conn.dispatcher}, timeout=HANDLER_GRACE_SECONDS)
                if not done:
                    logger.warning("wechaty: a message handler did not finish; cancelling it")
                    conn.dispatcher.cancel()
                    await asyncio.wait({conn.dispatcher})
        finally:
            for task in (conn.stream, conn.dispatcher):
                if task is not None and not task.done():
                    task.cancel()
                elif task is not None and not task.cancelled():
                    task.exception()  # retrieved: its failure was logged where it happened
            _close_channel(conn)
        logger.info("wechaty: connection {} torn down", conn.number)

    async def _rpc(self, conn: _Connection, call: Awaitable[_T]) -> _T:
        """Await one RPC on a connection, with the configured timeout.

        An RPC racing a teardown could reopen the closed gRPC channel: close it again after.
        """
        try:
            if conn.closing:
                raise ChannelError(f"wechaty: connection {conn.number} is closed")
            return await asyncio.wait_for(call, self._rpc_timeout)
        finally:
            if inspect.iscoroutine(call):
                call.close()  # never awaited when refused above; a no-op otherwise
            if conn.closing:
                _close_channel(conn)

    # -- incoming events --------------------------------------------------------------------

    async def _dispatch(self, conn: _Connection) -> None:
        """Handle the connection's queued events one at a time; a failing one is logged."""
        while True:
            event, payload = await conn.events.get()
            if conn.closing:
                dropped = conn.events.qsize() + (event != "close")
                if dropped:
                    # the puppet service may deliver them again; storage de-duplicates by id
                    logger.warning(
                        "wechaty: {} event(s) dropped with connection {}", dropped, conn.number
                    )
                return
            try:
                await self._handle(conn, event, payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("wechaty: handling {} event {!r} failed", event, payload)

    async def _handle(self, conn: _Connection, event: str, payload: Any) -> None:
        if event == "login":
            conn.self_id = payload.contact_id
            conn.logged_in.set()
        elif event == "logout":
            logger.error("wechaty: the account {} logged out", getattr(payload, "contact_id", "?"))
            self._connected.clear()
            conn.lost_reason = "the account logged out"
            conn.lost.set()
        elif event == "scan":
            conn.scan_seen = True
            logger.warning(
                "wechaty: the puppet waits for a QR scan (status {}): {}",
                getattr(payload, "status", "?"),
                getattr(payload, "qrcode", None) or "(no code)",
            )
        elif event == "error":
            logger.warning("wechaty: the puppet service reports an error: {!r}", payload)
        elif event == "message":
            incoming = await self._incoming(conn, payload.message_id)
            if incoming is not None and self._on_message is not None:
                await self._on_message(incoming)
        elif event == "room-join":
            if conn.self_id and conn.self_id in (payload.invited_ids or []):
                room_event = RoomEvent(
                    kind="join",
                    room_id=payload.room_id,
                    topic=await self._topic(conn, payload.room_id, fresh=True),
                    time=_utc(payload.timestamp or 0),
                )
                await self._emit_room_event(room_event)
        elif event == "room-topic":
            conn.topics[payload.room_id] = payload.new_topic
            room_event = RoomEvent(
                kind="topic",
                room_id=payload.room_id,
                topic=payload.new_topic,
                old_topic=payload.old_topic or None,
                time=_utc(payload.timestamp or 0),
            )
            await self._emit_room_event(room_event)

    async def _emit_room_event(self, room_event: RoomEvent) -> None:
        logger.info("wechaty: room event {}", room_event)
        if self._on_room_event is not None:
            await self._on_room_event(room_event)

    async def _incoming(self, conn: _Connection, message_id: str) -> Incoming | None:
        """The port's Incoming for a puppet message, or None for our own and unsupported ones."""
        w = _wechaty()
        payload = await self._rpc(conn, conn.puppet.message_payload(message_id))
        talker_id = payload.from_id
        if talker_id == conn.self_id:
            logger.debug("wechaty: dropped our own message {}", message_id)
            return None
        kind: Literal["text", "image"]
        media_path: Path | None = None
        if payload.type == w.MessageType.MESSAGE_TYPE_TEXT:
            kind = "text"
        elif payload.type == w.MessageType.MESSAGE_TYPE_IMAGE:
            kind, media_path = "image", await self._download_image(conn, message_id)
        else:
            logger.debug("wechaty: ignored message {} of type {}", message_id, payload.type)
            return None
        room_id = payload.room_id or None
        mentions = tuple(payload.mention_ids or ())
        text, quoted = split_quote(payload.text or "") if kind == "text" else ("", None)
        return Incoming(
            message_id=payload.id or message_id,
            sender_id=talker_id,
            sender_name=await self._name(conn, talker_id, room_id),
            text=text,
            time=_utc(payload.timestamp),
            room_id=room_id,
            room_topic=await self._topic(conn, room_id) if room_id else None,
            mentions=mentions,
            mentions_self=bool(conn.self_id) and conn.self_id in mentions,
            kind=kind,
            media_path=media_path,
            quoted_text=quoted,
        )

    async def _topic(self, conn: _Connection, room_id: str, *, fresh: bool = False) -> str:
        if fresh or room_id not in conn.topics:
            room = await self._rpc(conn, conn.puppet.room_payload(room_id))
            conn.topics[room_id] = room.topic or ""
        return conn.topics[room_id]

    async def _name(self, conn: _Connection, contact_id: str, room_id: str | None) -> str:
        """A person's display name: their alias in the room when set, else their WeChat name."""
        key = f"{room_id or ''}/{contact_id}"
        if key not in conn.names:
            name = ""
            if room_id:
                with contextlib.suppress(Exception):
                    member = await self._rpc(
                        conn, conn.puppet.room_member_payload(room_id, contact_id)
                    )
                    name = member.room_alias or member.name or ""
            if not name:
                contact = await self._rpc(conn, conn.puppet.contact_payload(contact_id))
                name = contact.name or contact_id
            conn.names[key] = name
        return conn.names[key]

    async def _with_mention_names(
        self, conn: _Connection, room_id: str, text: str, mentions: list[str]
    ) -> str:
        """Prefix '@name ' for each mentioned person the text does not name yet, as WeChat does."""
        prefix = ""
        for person_id in mentions:
            try:
                name = await self._name(conn, person_id, room_id)
            except ChannelError:
                raise
            except Exception as exc:
                # an id the puppet cannot name still goes out as a mention id
                logger.warning("wechaty: no name for mentioned {}: {!r}", person_id, exc)
                continue
            if f"@{name}" not in text:
                prefix += f"@{name}\u2005"
        return prefix + text

    async def _download_image(self, conn: _Connection, message_id: str) -> Path | None:
        """Save a message's image into the media dir; None when the puppet cannot give it."""
        w = _wechaty()
        try:
            box = await self._rpc(conn, conn.puppet.message_image(message_id))
        except Exception as exc:
            logger.warning("wechaty: image of message {} not available: {!r}", message_id, exc)
            return None
        if box.type() != w.FileBoxType.Base64:
            # python-wechaty 0.10.7 reads base64 file boxes only: big images arrive as UUID
            # boxes it cannot parse, URL boxes would need a download from the puppet's CDN.
            logger.warning(
                "wechaty: image of message {} is a {} file box, not saved", message_id, box.type()
            )
            return None
        data = base64.b64decode(box.base64)
        suffix = Path(box.name or "").suffix or ".jpg"
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", message_id)
        path = self._media_dir / f"wechaty-{safe_id}{suffix}"
        await asyncio.to_thread(path.write_bytes, data)
        return path
