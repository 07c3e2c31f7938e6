"""The classifier in a child process: understanding messages off the event loop and the GIL.

jieba and the classifier's scans are pure Python. Run in the bot's process they hold the
interpreter lock for most of every message, so the event loop and the database threads
wait on them, and the machine's other cores sit idle. A child process classifies instead:
the messages that arrive together go to it together, in batches of up to MAX_BATCH (one pipe
message each way per batch, not per message), up to MAX_IN_FLIGHT batches at a time.

How large the batches are is the database's to say (``batches_for``). On SQLite, two smaller
batches rather than one large one: 32 messages in flight otherwise move in lockstep, all
classified, then all stored in one transaction, then all classified again, and the child and
the database take turns. With two batches the first half is stored while the child
classifies the second (at full load, SQLite ingest rose in 7 of 8 runs alternating with one
batch of up to 64, by up to 20%). On PostgreSQL, each batch's messages become a transaction
of their own, and every transaction pays for its round trips, its commit and its share of
the cores with the other: batches of up to 32 cost a quarter less CPU per message, for a
lower p99 and a rate 3% lower (see batches_for).

Nothing is lost if the child fails (dies, or stops answering for ANSWER_TIMEOUT_SECONDS): the
messages it held, and every message until a new child is up, are classified in the bot's own
process, as they are with no child at all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from loguru import logger

from nlp import Classifier, Understanding
from nlp.classifier import DEFAULT_TAXONOMY, DEFAULT_USERDICT

# the most messages sent to the child at once, and the most batches it holds at once: while
# it classifies one, the next is already waiting in the pipe, and the first answers come back
# (and go on to the database) while it works on the rest
MAX_BATCH = 16
MAX_IN_FLIGHT = 2
# PostgreSQL: batches twice as large (see batches_for)
MAX_BATCH_POSTGRESQL = 32
# how long a new child may take to load its dictionaries
START_TIMEOUT_SECONDS = 60.0
# a child that died is started again after this long (doubling, up to the maximum)
RESTART_SECONDS = (1.0, 60.0)
# a batch takes milliseconds: a child that has not answered one in this long is stuck
ANSWER_TIMEOUT_SECONDS = 10.0


def batches_for(dialect: str) -> tuple[int, int]:
    """ClassifierProcess's max_batch and max_in_flight for the bot's database (its dialect's
    name).

    On PostgreSQL the messages of a batch come back together and are handled in one
    transaction: twice the batch, half the transactions, each paying for its round trips,
    its commit and its share of the cores with the other. The benchmark's 32 messages in
    flight, 16 × 2 alternating with 32 × 2 (three pairs of 10,000 on the local server): CPU
    per message (bot, classifier and server) 288 against 220 µs, the server's own 89 against
    68 µs (the one part a city's processes share); full-load p99 12.4 / 11.8 / 13.9 against
    11.3 / 11.4 / 12.0 ms; but a ratio 3% lower, 0.135 / 0.136 / 0.132 against 0.131 /
    0.130 / 0.126 (the 32 then travel as one batch: nothing overlaps). SQLite's
    transactions cost next to nothing, and it gains from the overlap of smaller batches (see
    the module's opening).
    """
    if dialect == "postgresql":
        return MAX_BATCH_POSTGRESQL, MAX_IN_FLIGHT
    return MAX_BATCH, MAX_IN_FLIGHT


@dataclass(frozen=True, slots=True)
class _Failed:
    """What the child sends back for a text the classifier raised on."""

    error: str


def _serve(requests: Connection, answers: Connection, taxonomy: str, userdict: str) -> None:
    """The child: build the classifier, then answer batches of texts until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the bot, which stops us
    try:
        classifier = Classifier.from_file(taxonomy, Path(userdict) if userdict else None)
        classifier.classify("预热")  # the first call builds caches: not on a resident's time
    except BaseException as exc:
        answers.send(("failed", repr(exc)))
        return
    answers.send(("ready", None))
    while True:
        try:
            batch = requests.recv()
        except (EOFError, OSError):
            return  # the bot is gone
        if batch is None:
            return
        out: list[Understanding | _Failed] = []
        for text in batch:
            try:
                out.append(classifier.classify(text))
            except Exception as exc:
                out.append(_Failed(repr(exc)))
        answers.send(out)


class ClassifierProcess:
    """Classify through a child process; the same answers as ``classifier.classify``.

    ``classifier`` is the bot's own, used whenever the child cannot answer; the child builds
    its own from the same taxonomy and user dictionary files. The child is a new interpreter
    (``python -m bot.classify_process``) that imports the classifier and nothing else of the
    bot: not forked (the bot runs threads), and lighter than multiprocessing's spawn, which
    would import the bot's main module again. Start with ``start()``, stop with ``close()``.
    """

    def __init__(
        self,
        classifier: Classifier,
        taxonomy: Path | str = DEFAULT_TAXONOMY,
        userdict: Path | None = DEFAULT_USERDICT,
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._fallback = classifier
        self._taxonomy = str(taxonomy)
        self._userdict = str(userdict) if userdict is not None else ""
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None  # the child's answers (the bot reads)
        self._requests: Connection | None = None  # the texts (the bot writes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[tuple[str, asyncio.Future[Understanding]]] = []
        # the batches sent and not answered yet, oldest first (the child answers in order)
        self._in_flight: deque[list[tuple[str, asyncio.Future[Understanding]]]] = deque()
        self._send_soon = False
        self._closing = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._restart: asyncio.Task[None] | None = None
        self.started = 0  # children started in all (a restart counts)
        self.batches = 0  # batches sent to a child

    @property
    def running(self) -> bool:
        """True while a child is up and answering."""
        return self._conn is not None

    @property
    def pid(self) -> int | None:
        """The child's process id (None when there is none)."""
        return self._proc.pid if self._proc is not None and self.running else None

    async def start(self) -> None:
        """Start the child and wait until its classifier is loaded; raise if it cannot be."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        proc, answers, requests = await asyncio.to_thread(self._launch)
        try:
            ready = await asyncio.wait_for(
                asyncio.to_thread(self._first_word, answers), START_TIMEOUT_SECONDS
            )
            if ready[0] != "ready":
                raise RuntimeError(f"the classifier process could not start: {ready[1]}")
        except BaseException:
            answers.close()
            requests.close()
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
            raise
        self._proc, self._conn, self._requests = proc, answers, requests
        self._loop.add_reader(answers.fileno(), self._on_answer)
        self.started += 1
        logger.info("classifier process {} started", proc.pid)
        self._schedule_send()  # what arrived while it started

    def _launch(self) -> tuple[subprocess.Popen[bytes], Connection, Connection]:
        """The child, with a pipe each way (its ends passed to it by number)."""
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        argv = [sys.executable, "-m", "bot.classify_process", str(requests_r), str(answers_w)]
        try:
            proc = subprocess.Popen(
                [*argv, self._taxonomy, self._userdict],
                pass_fds=(requests_r, answers_w),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (requests_r, requests_w, answers_r, answers_w):
                os.close(fd)
            raise
        os.close(requests_r)
        os.close(answers_w)
        return proc, Connection(answers_r, writable=False), Connection(requests_w, readable=False)

    @staticmethod
    def _first_word(conn: Connection) -> tuple[str, object]:
        try:
            word: tuple[str, object] = conn.recv()
        except EOFError:
            return ("failed", "it exited while loading")
        return word

    async def classify(self, text: str) -> Understanding:
        """The classifier's understanding of text."""
        if self._conn is None:
            return self._fallback.classify(text)
        future: asyncio.Future[Understanding] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        self._schedule_send()
        return await future

    def _schedule_send(self) -> None:
        # within one turn of the event loop messages keep arriving: send them together
        if not self._send_soon and self._loop is not None:
            self._send_soon = True
            self._loop.call_soon(self._send)

    def _send(self) -> None:
        self._send_soon = False
        while len(self._in_flight) < self._max_in_flight and self._waiting:
            conn = self._requests
            if self._conn is None or conn is None:
                return
            batch = self._waiting[: self._max_batch]
            self._waiting = self._waiting[self._max_batch :]
            batch = [(t, f) for t, f in batch if not f.done()]  # a caller that gave up
            if not batch:
                continue
            self._in_flight.append(batch)
            try:
                conn.send([text for text, _ in batch])
            except (OSError, ValueError) as exc:
                self._lost(f"sending to it failed: {exc!r}")
                return
            self.batches += 1
            if self._watchdog is None:
                self._watch()

    def _watch(self) -> None:
        """Time the oldest batch in flight."""
        self._stop_watchdog()
        if self._in_flight and self._loop is not None:
            oldest = self._in_flight[0]
            self._watchdog = self._loop.call_later(ANSWER_TIMEOUT_SECONDS, self._stuck, oldest)

    def _stuck(self, batch: list[tuple[str, asyncio.Future[Understanding]]]) -> None:
        if self._in_flight and self._in_flight[0] is batch:
            self._lost(
                f"it did not answer {len(batch)} message(s) in {ANSWER_TIMEOUT_SECONDS:.0f} s"
            )

    def _on_answer(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            answers = conn.recv()
        except EOFError:
            self._lost("it exited")
            return
        except Exception as exc:  # a broken pipe, a garbled answer: the child is not trusted
            self._lost(f"reading its answer failed: {exc!r}")
            return
        expected = len(self._in_flight[0]) if self._in_flight else 0
        if not self._in_flight or not isinstance(answers, list) or len(answers) != expected:
            self._lost(f"it gave {type(answers).__name__} for {expected} message(s)")
            return
        batch = self._in_flight.popleft()
        self._watch()  # the next batch's time starts now: the child works in order
        for (text, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, _Failed):
                logger.error("classifying {!r} failed in the child: {}", text[:40], answer.error)
                self._answer_here(text, future)
            else:
                future.set_result(answer)
        self._schedule_send()

    def _answer_here(self, text: str, future: asyncio.Future[Understanding]) -> None:
        """Classify in this process: the same classifier, the same answer (or its error)."""
        if future.done():
            return
        try:
            future.set_result(self._fallback.classify(text))
        except Exception as exc:
            future.set_exception(exc)

    def _lost(self, reason: str) -> None:
        """The child failed: answer what it held here, and start another in a while."""
        logger.error("classifier process: {}; classifying in the bot's process meanwhile", reason)
        self._drop_child()
        for text, future in self._take_all():
            self._answer_here(text, future)
        if not self._closing and self._restart is None and self._loop is not None:
            self._restart = self._loop.create_task(self._start_again(), name="classifier-restart")

    def _take_all(self) -> list[tuple[str, asyncio.Future[Understanding]]]:
        """Every text not answered yet (in the child's batches, then waiting), taken."""
        held = [item for batch in self._in_flight for item in batch] + self._waiting
        self._in_flight.clear()
        self._waiting = []
        return held

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _drop_child(self) -> None:
        self._stop_watchdog()
        conn, self._conn = self._conn, None
        requests, self._requests = self._requests, None
        if conn is not None:
            if self._loop is not None:
                self._loop.remove_reader(conn.fileno())
            conn.close()
        if requests is not None:
            requests.close()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()  # killed or gone: reaped at once, no zombie left

    async def _start_again(self) -> None:
        delay, most = RESTART_SECONDS
        try:
            while not self._closing:
                await asyncio.sleep(delay)
                if self._closing:
                    return
                try:
                    await self.start()
                    return
                except Exception as exc:
                    logger.error("classifier process did not start again: {!r}", exc)
                delay = min(delay * 2, most)
        finally:
            self._restart = None

    async def close(self) -> None:
        """Stop the child (what it holds is answered here first)."""
        self._closing = True
        restart = self._restart
        if restart is not None:
            restart.cancel()
            await asyncio.wait({restart})
        self._stop_watchdog()
        conn, requests, proc = self._conn, self._requests, self._proc
        for text, future in self._take_all():
            self._answer_here(text, future)
        if conn is not None:
            if self._loop is not None:
                self._loop.remove_reader(conn.fileno())
            conn.close()
            self._conn = None
        if requests is not None:
            try:
                requests.send(None)
            except (OSError, ValueError):
                pass
            requests.close()
            self._requests = None
        if proc is not None:
            try:
                await asyncio.to_thread(proc.wait, 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)
            logger.info("classifier process {} stopped", proc.pid)
        self._proc = None


if (
    __name__ == "__main__"
):  # python -m bot.classify_process REQUESTS_FD ANSWERS_FD TAXONOMY USERDICT
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        sys.argv[3],
        sys.argv[4],
    )
