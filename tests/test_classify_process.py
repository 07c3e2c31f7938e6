"""The classifier process: the same answers as classifying in the bot, and nothing lost if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

import bot.classify_process as cp
from bot.classify_process import ClassifierProcess
from nlp import Classifier, default_classifier
from nlp.classifier import DEFAULT_TAXONOMY

CORPUS = Path(__file__).resolve().parents[1] / "nlp" / "corpus" / "dev.jsonl"


def corpus_texts(n: int) -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:n]]


@pytest.fixture
async def process() -> ClassifierProcess:
    proc = ClassifierProcess(Classifier.from_file(DEFAULT_TAXONOMY, load_now=False))
    await proc.start()
    yield proc  # type: ignore[misc]
    await proc.close()


async def test_the_child_gives_the_same_understanding_as_this_process(
    process: ClassifierProcess,
) -> None:
    texts = [*corpus_texts(400), "", "收到", "x" * 5000, "3号楼2单元电梯困人了！！快来人"]
    answers = await asyncio.gather(*(process.classify(t) for t in texts))
    here = default_classifier()
    assert answers == [here.classify(t) for t in texts]
    assert process.batches < len(texts) / 4  # texts arriving together went together


async def test_texts_go_in_batches_two_at_a_time_and_come_back_in_order(
    process: ClassifierProcess,
) -> None:
    texts = corpus_texts(40)
    pending = [asyncio.ensure_future(process.classify(t)) for t in texts]
    await asyncio.sleep(0)  # the callers queue their texts
    await asyncio.sleep(0)  # the send scheduled for this turn runs
    # two batches in the child's pipe, the rest waiting for the first answer
    assert [len(b) for b in process._in_flight] == [cp.MAX_BATCH, cp.MAX_BATCH]
    assert len(process._waiting) == len(texts) - 2 * cp.MAX_BATCH
    answers = await asyncio.gather(*pending)
    here = default_classifier()
    assert answers == [here.classify(t) for t in texts]
    assert process.batches == 3 and not process._in_flight


async def test_this_process_does_not_load_jiebas_dictionary_while_the_child_answers(
    process: ClassifierProcess,
) -> None:
    await asyncio.gather(*(process.classify(t) for t in corpus_texts(50)))
    assert process.running
    assert process._fallback._jieba is None  # 60 MB the bot's own process does not hold


async def test_texts_held_by_a_child_that_dies_are_answered_here_and_a_new_child_starts(
    process: ClassifierProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cp, "RESTART_SECONDS", (0.2, 1.0))
    first = process.pid
    assert first is not None
    texts = corpus_texts(300)
    pending = [asyncio.ensure_future(process.classify(t)) for t in texts]
    await asyncio.sleep(0)  # the first batch is on its way
    os.kill(first, signal.SIGKILL)
    answers = await asyncio.gather(*pending)
    here = default_classifier()
    assert answers == [here.classify(t) for t in texts]  # none lost, none wrong
    for _ in range(200):  # a new child, after the restart delay and its dictionary load
        if process.running and process.pid != first:
            break
        await asyncio.sleep(0.1)
    assert process.running and process.pid not in (None, first)
    assert process.started == 2
    assert await process.classify("电梯困人了") == here.classify("电梯困人了")


async def test_close_answers_what_is_waiting_and_ends_the_child(process: ClassifierProcess) -> None:
    pid = process.pid
    assert pid is not None
    pending = [asyncio.ensure_future(process.classify(t)) for t in corpus_texts(100)]
    await asyncio.sleep(0)
    await process.close()
    assert [p.done() for p in pending] == [True] * len(pending)
    assert not process.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # after close, texts are still classified (here)
    assert (await process.classify("楼道灯坏了")).intent == "complaint"


async def test_a_child_that_cannot_load_its_classifier_is_reported(tmp_path: Path) -> None:
    proc = ClassifierProcess(default_classifier(), tmp_path / "no-such-taxonomy.toml")
    with pytest.raises(RuntimeError, match="could not start"):
        await proc.start()
    assert not proc.running
    assert (await proc.classify("楼道灯坏了")).intent == "complaint"  # classified here


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_the_running_bot_classifies_in_a_child_that_does_not_outlive_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.faults_support import BotProcess

    bot = BotProcess(
        tmp_path, f"sqlite:///{tmp_path / 'bot.db'}", datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert bot.launch()
    try:
        assert bot.proc is not None
        # the process under test is tests.faults_proc wrapping `run` (it injects no fault here)
        children = [c for c in _children(bot.proc.pid) if "bot.classify_process" in _cmdline(c)]
        assert len(children) == 1, [_cmdline(c) for c in _children(bot.proc.pid)]
        body = {
            "id": "m1",
            "room": "room-yg-3",
            "sender": "张阿姨",
            "text": "3号楼2单元502门口楼道灯坏了好几天了",
        }
        status, answer = bot.request("POST", "/api/sim/messages", body)
        assert status == 200, answer
        status, tickets = bot.request("GET", "/api/tickets")
        assert status == 200, tickets
        assert [t["category"] for t in tickets["tickets"]] == ["repair"]  # the child understood
        bot.proc.send_signal(signal.SIGKILL)
        bot.wait_killed()
        child = children[0]
        for _ in range(100):  # the pipe closes with the bot: the child sees it and ends
            if "bot.classify_process" not in _cmdline(child):
                break
            time.sleep(0.05)
        assert "bot.classify_process" not in _cmdline(child)
    finally:
        bot.stop()


def test_an_understanding_crosses_the_pipe_whole() -> None:
    # Understanding and Location pickle by their fields in order (__reduce__): a field added
    # to either must be added there too, or it would be lost on the way from the child
    import dataclasses
    import pickle

    from nlp import Location, Understanding

    for cls in (Understanding, Location):
        sample = default_classifier().classify("3号楼2单元502门口楼道灯坏了好几天了")
        value = sample if cls is Understanding else sample.location
        assert value is not None
        names = [f.name for f in dataclasses.fields(cls)]
        assert value.__reduce__()[1] == tuple(getattr(value, n) for n in names)
        assert pickle.loads(pickle.dumps(value)) == value


async def test_a_child_that_stops_answering_is_replaced_and_its_texts_answered_here(
    process: ClassifierProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cp, "ANSWER_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(cp, "RESTART_SECONDS", (0.2, 1.0))
    stuck = process.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)  # alive, but answering nothing
    try:
        texts = corpus_texts(20)
        answers = await asyncio.wait_for(asyncio.gather(*(process.classify(t) for t in texts)), 10)
        here = default_classifier()
        assert answers == [here.classify(t) for t in texts]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGCONT)
    for _ in range(200):
        if process.running and process.pid != stuck:
            break
        await asyncio.sleep(0.1)
    assert process.running and process.pid not in (None, stuck)
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)  # the stuck one was killed (and reaped)


def test_the_configured_taxonomy_is_the_one_used_here_and_in_the_child(tmp_path: Path) -> None:
    """`[bot] taxonomy` names the taxonomy file: the bot's process (labels, the fallback)
    and its classifier process both use it; a missing file is refused when settings load."""
    from bot.app import build_bot
    from config.schema import ROOT, ConfigError, load_settings
    from storage import Database

    own = tmp_path / "taxonomy.toml"
    own.write_text(
        DEFAULT_TAXONOMY.read_text(encoding="utf-8")
        .replace('label = "设施维修"', 'label = "设施报修"', 1)
        .replace('strong = [\n  "漏水",', 'strong = [\n  "咕噜怪响", "漏水",', 1),
        encoding="utf-8",
    )
    text = "3号楼2单元楼道里咕噜怪响一晚上"
    assert default_classifier().classify(text).category != "repair"  # the default's answer

    demo = (ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    config = tmp_path / "bot.toml"
    config.write_text(demo.replace("[bot]\n", f"[bot]\ntaxonomy = {str(own)!r}\n", 1))
    settings = load_settings(config)

    async def scenario(classify_process: bool) -> tuple[str, str | None, bool]:
        db = Database(f"sqlite:///{tmp_path / f'{classify_process}.db'}")
        bot = build_bot(settings, db=db, classify_process=classify_process)
        try:
            if bot.classify_process is not None:  # as start_bot does
                await bot.classify_process.start()
                bot.services.classify_elsewhere = bot.classify_process.classify
            u = await bot.services.understand(text)
            return (
                bot.services.classifier.categories["repair"],
                u.category,
                bot.services.classify_elsewhere is not None,
            )
        finally:
            if bot.classify_process is not None:
                await bot.classify_process.close()
            db.close()

    assert asyncio.run(scenario(False)) == ("设施报修", "repair", False)
    assert asyncio.run(scenario(True)) == ("设施报修", "repair", True)

    config.write_text(demo.replace("[bot]\n", "[bot]\ntaxonomy = 'no/such/taxonomy.toml'\n", 1))
    with pytest.raises(ConfigError, match="no taxonomy file"):
        load_settings(config)


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_bots_batches_are_sized_for_its_database(engine: str, tmp_path: Path) -> None:
    """Two batches of up to 16 on SQLite (the child classifies one while the other is
    stored); on PostgreSQL up to 32 each, whose messages then share a transaction."""
    from bot.app import build_bot
    from config.schema import ROOT, load_settings
    from storage import Database
    from storage.scratch import sync_postgres_schema
    from tests.harness import PG_URL

    settings = load_settings(ROOT / "config" / "demo.toml")
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(sync_postgres_schema(PG_URL))
            if engine == "postgresql"
            else f"sqlite:///{tmp_path / 'bot.db'}"
        )
        db = Database(url)
        stack.callback(db.close)
        bot = build_bot(settings, db=db, classify_process=True)  # (not started)
        assert bot.classify_process is not None
        sizes = (bot.classify_process._max_batch, bot.classify_process._max_in_flight)
    assert sizes == ((32, 2) if engine == "postgresql" else (16, 2))
