"""python -m nlp classify / evaluate / bench, as outside tools use them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nlp import Classifier
from nlp.__main__ import bench_messages, classify_stream, main

ROOT = Path(__file__).resolve().parents[2]


def test_classify_passes_fields_through(clf: Classifier) -> None:
    inp = io.StringIO(
        json.dumps({"id": 7, "text": "3号楼电梯又坏了", "meta": {"k": [1, 2]}}, ensure_ascii=False)
        + "\n"
        + json.dumps({"text": "收到"}, ensure_ascii=False)
        + "\n"
    )
    out = io.StringIO()
    assert classify_stream(clf, inp, out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["id"] == 7 and rows[0]["meta"] == {"k": [1, 2]}
    assert rows[0]["text"] == "3号楼电梯又坏了"
    assert rows[0]["intent"] == "complaint" and rows[0]["category"] == "repair"
    assert rows[0]["location"]["text"].startswith("3号楼")
    for key in ("urgent", "keywords", "confidence"):
        assert key in rows[0]
    assert rows[1]["intent"] == "none"
    assert "电梯" in out.getvalue()  # ensure_ascii=False


def test_classify_writes_an_error_for_a_bad_line(
    clf: Classifier, capsys: pytest.CaptureFixture[str]
) -> None:
    inp = io.StringIO('not json\n{"no_text": 1}\n{"text": "停水了"}\n')
    out = io.StringIO()
    assert classify_stream(clf, inp, out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert "error" in rows[0] and rows[0]["line"] == 1
    assert "error" in rows[1]
    assert rows[2]["intent"] == "complaint"
    assert "line 1" in capsys.readouterr().err


def test_classify_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nlp", "classify"],
        input='{"text": "闻到煤气味了", "x": 1}\n',
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        timeout=120,
        check=True,
    )
    row = json.loads(proc.stdout)
    assert row["x"] == 1 and row["urgent"] is True and row["category"] == "safety"


def test_evaluate_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(ROOT / "nlp" / "corpus" / "heldout.jsonl")]) == 0
    text = capsys.readouterr().out
    for needle in (
        "complaint-vs-not",
        "category accuracy",
        "urgent",
        "false-ticket rate",
        "confusion",
    ):
        assert needle in text


def test_bench_messages_are_distinct() -> None:
    msgs = bench_messages(3000)
    assert len(set(msgs)) == 3000


def test_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--n", "200", "--rounds", "1"]) == 0
    assert "ratio" in capsys.readouterr().out
