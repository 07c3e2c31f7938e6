"""The corpus and the bar: figures on the development split (never tuned on held-out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import Classifier
from nlp.evaluation import evaluate, load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "nlp" / "corpus"


def test_corpus_size_and_coverage(clf: Classifier) -> None:
    dev = load_corpus(CORPUS / "dev.jsonl")
    held = load_corpus(CORPUS / "heldout.jsonl")
    assert len(dev) + len(held) >= 600
    assert 0.25 <= len(held) / (len(dev) + len(held)) <= 0.35
    assert not {x.text for x in dev} & {x.text for x in held}
    for part in (dev, held):
        assert {x.intent for x in part} == {"complaint", "consult", "none"}
        assert {x.category for x in part if x.intent == "complaint"} == set(clf.categories)
        assert any(x.urgent for x in part)


@pytest.fixture(scope="module")
def dev_report(clf: Classifier):  # type: ignore[no-untyped-def]
    return evaluate(load_corpus(CORPUS / "dev.jsonl"), clf.classify, clf.categories)


def test_complaint_vs_not_f1(dev_report) -> None:  # type: ignore[no-untyped-def]
    assert dev_report.complaint_f1.f1 >= 0.93


def test_category_accuracy_on_complaints(dev_report) -> None:  # type: ignore[no-untyped-def]
    assert dev_report.category_accuracy >= 0.90


def test_urgent_recall_and_precision(dev_report) -> None:  # type: ignore[no-untyped-def]
    assert dev_report.urgent.recall >= 0.95
    assert dev_report.urgent.precision >= 0.80


def test_false_tickets_on_none(dev_report) -> None:  # type: ignore[no-untyped-def]
    assert dev_report.false_ticket_rate_none <= 0.03
