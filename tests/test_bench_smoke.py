"""The benchmark runs end to end on tiny sizes (no timings are asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main


def test_bench_runs_end_to_end_on_tiny_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    """Every figure is printed, each with its baseline or goal."""
    code = main(
        [
            *("bench", "--messages", "40", "--concurrency", "4", "--ingest-runs", "2"),
            *("--rooms", "50", "--tickets", "400", "--open", "40", "--due", "5", "--months", "3"),
        ],
        configure_logging=False,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "sizes: 50 rooms (= buildings), 400 tickets over 3 months (40 open, 5 of them" in out
    for figure in (
        "[sqlite] ingest: 40 messages",
        "plain jieba.lcut over the same messages",
        "[sqlite] handling latency at full load (4 messages in flight",
        "), slowest ",
        "each run after 300 warm-up messages, not timed",
        "[sqlite] handling latency with messages arriving steadily at 200 msg/s (40 messages",
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
