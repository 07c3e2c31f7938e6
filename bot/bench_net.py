"""A database across a network, for the benchmark: a TCP proxy that delays what it forwards.

The benchmark's PostgreSQL figures come from a server on the same machine, where a round
trip costs tens of microseconds. A deployment that has outgrown one machine has its
database across a network, where every round trip costs the network's latency as well.
``DelayProxy`` stands in between: each chunk of bytes, each way, is forwarded once it is
``delay`` seconds old (in order). It runs in a process of its own, so that its work does not
take the bot's interpreter lock, and it measures what a round trip through it costs.
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

# the most a chunk is read at once
CHUNK = 65536


def _forward(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Copy source to sink, each chunk once it is delay seconds old; pass the end on too."""
    pending: deque[tuple[float, bytes]] = deque()
    ready = threading.Condition()
    done = False

    def write() -> None:
        while True:
            with ready:
                while not pending and not done:
                    ready.wait()
                if not pending:
                    break
                due, data = pending.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sink.sendall(data)
            except OSError:
                break
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        while data := source.recv(CHUNK):
            with ready:
                pending.append((time.monotonic() + delay, data))
                ready.notify()
    except OSError:
        pass
    finally:
        with ready:
            done = True
            ready.notify()
        writer.join()


def _pair(client: socket.socket, target: tuple[str, int], delay: float) -> None:
    try:
        server = socket.create_connection(target)
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_forward, args=(server, client, delay), daemon=True)
    back.start()
    _forward(client, server, delay)
    back.join()
    client.close()
    server.close()


def _serve(target: tuple[str, int], delay: float, report: Connection) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    report.send(listener.getsockname()[1])
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_pair, args=(client, target, delay), daemon=True).start()


class DelayProxy:
    """A TCP proxy to host:port on 127.0.0.1, delaying each way by ``delay_ms``."""

    def __init__(self, host: str, port: int, delay_ms: float) -> None:
        self.target = (host, port)
        self.delay_ms = delay_ms
        self.port = 0
        self._process: Any = None

    def __enter__(self) -> DelayProxy:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(self.target, self.delay_ms / 1000, theirs), daemon=True
        )
        self._process.start()
        if not mine.poll(30):
            self._process.kill()
            raise RuntimeError("the delaying proxy did not start")
        self.port = int(mine.recv())
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None


def round_trip_ms(dsn: str, times: int = 50) -> float:
    """The median time of a ``SELECT 1`` round trip to a PostgreSQL server, in ms."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT 1")
        took = []
        for _ in range(times):
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took)
