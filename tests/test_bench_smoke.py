"""The benchmark runs end to end on tiny sizes (no timings are asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


def test_bench_runs_end_to_end_on_tiny_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    """Every figure is printed, each with its baseline or goal (enough messages for the CPU
    they cost to show in /proc's clock ticks of 10 ms)."""
    code = main(
        [
            *("bench", "--messages", "200", "--concurrency", "4", "--ingest-runs", "2"),
            *("--rooms", "50", "--tickets", "400", "--open", "40", "--due", "5", "--months", "3"),
        ],
        configure_logging=False,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "sizes: 50 rooms (= buildings), 400 tickets over 3 months (40 open, 5 of them" in out
    for figure in (
        "[sqlite] ingest: 200 messages",
        "plain jieba.lcut over the same messages",
        "[sqlite] handling latency at full load (4 messages in flight",
        "), slowest ",
        "each run after 300 warm-up messages, not timed",
        "[sqlite] handling latency with messages arriving steadily at 200 msg/s (200 messages",
        "[run 2 of 2]",
        "[sqlite] ingest ratio, median of 2 runs: ",
        "[sqlite] p99 at full load, median of 2 runs: ",
        "[sqlite] p99 with messages arriving steadily, median of 2 runs: ",
        "[sqlite] digest of one community",
        "[sqlite] monthly report",
        "[sqlite] dashboard overview",
        "[sqlite] deadline sweep over 40 open tickets",
        "[sqlite] RSS with the rooms loaded",
    ):
        assert figure in out, figure
    if Path("/proc/self/stat").exists():  # Linux: CPU time by process
        for figure in (
            "[sqlite] CPU per message at full load: bot process ",
            "[sqlite] CPU per message at full load, median of 2 runs: ",
            "the ratio it allows at most with every core busy: ",
        ):
            assert figure in out, figure


def test_the_delaying_proxy_forwards_both_ways_in_order_and_late() -> None:
    """What the proxy forwards arrives whole, in order, each way no sooner than its delay;
    the end of the stream is passed on too."""
    import socket
    import threading
    import time

    from bot.bench_net import DelayProxy

    server = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    with DelayProxy("127.0.0.1", server.getsockname()[1], delay_ms=30) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as client:
            start = time.monotonic()
            sent = b"".join(f"{i:05d};".encode() for i in range(20_000))
            for i in range(0, len(sent), 7_000):
                client.sendall(sent[i : i + 7_000])
            client.shutdown(socket.SHUT_WR)
            got = b""
            while data := client.recv(65536):
                got += data
            took = time.monotonic() - start
    server.close()
    assert got == sent
    assert took >= 0.06  # there and back, each at least 30 ms late


@pytest.mark.postgres
def test_bench_runs_postgresql_across_a_delaying_proxy_unjudged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import psycopg

    from tests.harness import PG_URL, skip_or_fail

    try:
        psycopg.connect(PG_URL).close()
    except Exception as e:  # no server: skip (or fail in CI)
        skip_or_fail(f"PostgreSQL not reachable at {PG_URL}: {type(e).__name__}")
    code = main(
        [
            *("bench", "--messages", "40", "--concurrency", "4", "--ingest-runs", "1"),
            *("--tickets", "0", "--pg", PG_URL, "--pg-delay-ms", "1"),
        ],
        configure_logging=False,
    )
    out = capsys.readouterr().out
    assert code == 0
    delayed = [line for line in out.splitlines() if line.startswith("[postgresql, 1 ms each way]")]
    assert "through a proxy that delays what it forwards by 1 ms each way" in delayed[0]
    assert "a SELECT 1 round trip takes" in delayed[0]
    assert any(
        line.startswith("[postgresql, 1 ms each way] ingest: 40 messages") for line in delayed
    )
    assert not any("(goal" in line for line in delayed)  # without the network, the goals say
    assert "[postgresql] ingest: 40 messages" in out


def test_a_run_too_short_for_its_cpu_to_show_prints_no_cpu_figure() -> None:
    """/proc counts CPU in ticks of 10 ms: a run that shows none has its other figures
    printed, and no CPU figure (not a division by zero)."""
    from bot.bench import CpuUse, IngestResult, summary

    def run(cpu: CpuUse) -> IngestResult:
        return IngestResult("sqlite", 40, 4, 0.02, [1.0, 2.0], 0.001, 0, 200.0, [1.0], [0.001], cpu)

    short = run(CpuUse(bot=0.0, classifier=0.0))
    lines = short.lines()
    assert lines[0].startswith("[sqlite] ingest: 40 messages")
    assert not any("CPU per message" in line for line in lines)
    assert not any("CPU per message" in line for line in summary("sqlite", [short, short]))
    measured = run(CpuUse(bot=0.01, classifier=0.01))
    assert any("CPU per message" in line for line in measured.lines())
