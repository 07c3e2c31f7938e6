"""Scoring the classifier against a labelled corpus (JSON lines: text, intent, category, urgent)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.understanding import Understanding

INTENTS = ("complaint", "consult", "none")


@dataclass(frozen=True, slots=True)
class Labelled:
    """One message of a corpus with its gold labels."""

    text: str
    intent: str
    category: str | None
    urgent: bool


@dataclass(frozen=True, slots=True)
class PRF:
    """Precision, recall, F1 and support of one class."""

    precision: float
    recall: float
    f1: float
    support: int


def prf(tp: int, fp: int, fn: int) -> PRF:
    """Precision/recall/F1 from counts (0 where undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(p, r, f, tp + fn)


def load_corpus(path: Path | str) -> list[Labelled]:
    """Read a JSON-lines corpus."""
    out: list[Labelled] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(
                    Labelled(
                        str(d["text"]), str(d["intent"]), d.get("category"), bool(d.get("urgent"))
                    )
                )
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from exc
    return out


def ticketed(u: Understanding) -> bool:
    """Whether the pipeline would open a ticket (borderline ones are only kept aside)."""
    return u.intent == "complaint" and not u.borderline


@dataclass(slots=True)
class Report:
    """All figures of one evaluation run."""

    n: int = 0
    intent: dict[str, PRF] = field(default_factory=dict)
    category: dict[str, PRF] = field(default_factory=dict)
    complaint_f1: PRF = PRF(0, 0, 0, 0)  # ticketed vs gold complaint
    complaint_f1_raw: PRF = PRF(0, 0, 0, 0)  # intent==complaint incl. borderline
    category_accuracy: float = 0.0  # on gold complaints, predicted category (any intent)
    urgent: PRF = PRF(0, 0, 0, 0)
    false_ticket_rate_none: float = 0.0
    borderline: int = 0
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    errors: list[tuple[Labelled, Understanding]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""

        def d(p: PRF) -> dict[str, float]:
            return {"precision": p.precision, "recall": p.recall, "f1": p.f1, "support": p.support}

        return {
            "n": self.n,
            "intent": {k: d(v) for k, v in self.intent.items()},
            "category": {k: d(v) for k, v in self.category.items()},
            "complaint_vs_not": d(self.complaint_f1),
            "complaint_vs_not_raw_intent": d(self.complaint_f1_raw),
            "category_accuracy_on_complaints": self.category_accuracy,
            "urgent": d(self.urgent),
            "false_ticket_rate_none": self.false_ticket_rate_none,
            "borderline": self.borderline,
        }


def _label(intent: str, category: str | None) -> str:
    return f"complaint:{category}" if intent == "complaint" else intent


def evaluate(
    corpus: Iterable[Labelled], classify: Callable[[str], Understanding], categories: Iterable[str]
) -> Report:
    """Classify every message and score the results against the gold labels."""
    rep = Report()
    cats = list(categories)
    i_counts = {k: [0, 0, 0] for k in INTENTS}  # tp fp fn
    c_counts = {k: [0, 0, 0] for k in cats}
    ct = [0, 0, 0]
    cr = [0, 0, 0]
    ut = [0, 0, 0]
    cat_right = cat_total = none_total = none_ticketed = 0
    for item in corpus:
        u = classify(item.text)
        rep.n += 1
        rep.borderline += u.borderline
        gold_i, pred_i = item.intent, u.intent
        for k in INTENTS:
            i_counts[k][0] += gold_i == k and pred_i == k
            i_counts[k][1] += gold_i != k and pred_i == k
            i_counts[k][2] += gold_i == k and pred_i != k
        gold_c = item.category if gold_i == "complaint" else None
        pred_c = u.category if ticketed(u) else None
        for k in cats:
            c_counts[k][0] += gold_c == k and pred_c == k
            c_counts[k][1] += gold_c != k and pred_c == k
            c_counts[k][2] += gold_c == k and pred_c != k
        for counts, pred in ((ct, ticketed(u)), (cr, u.intent == "complaint")):
            gold = gold_i == "complaint"
            counts[0] += gold and pred
            counts[1] += (not gold) and pred
            counts[2] += gold and not pred
        ut[0] += item.urgent and u.urgent
        ut[1] += (not item.urgent) and u.urgent
        ut[2] += item.urgent and not u.urgent
        if gold_i == "complaint":
            cat_total += 1
            cat_right += (u.category or u.best_category) == item.category
        if gold_i == "none":
            none_total += 1
            none_ticketed += ticketed(u)
        g = _label(gold_i, gold_c)
        p = _label(pred_i, u.category) + ("?" if u.borderline else "")
        rep.confusion.setdefault(g, Counter())[p] += 1
        wrong = (
            (gold_i == "complaint") != ticketed(u) or gold_i != pred_i or item.urgent != u.urgent
        )
        if wrong or (gold_i == "complaint" and u.category != item.category):
            rep.errors.append((item, u))
    rep.intent = {k: prf(*v) for k, v in i_counts.items()}
    rep.category = {k: prf(*v) for k, v in c_counts.items()}
    rep.complaint_f1 = prf(*ct)
    rep.complaint_f1_raw = prf(*cr)
    rep.urgent = prf(*ut)
    rep.category_accuracy = cat_right / cat_total if cat_total else 0.0
    rep.false_ticket_rate_none = none_ticketed / none_total if none_total else 0.0
    return rep


def format_report(rep: Report, show_errors: bool = False) -> str:
    """The report as text for a terminal."""
    lines = [f"messages: {rep.n}   borderline (kept, not ticketed): {rep.borderline}", ""]
    lines.append(f"{'intent':<14}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}")
    for k, v in rep.intent.items():
        lines.append(f"{k:<14}{v.precision:>7.3f}{v.recall:>7.3f}{v.f1:>7.3f}{v.support:>6}")
    lines.append("")
    lines.append(f"{'category':<14}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}   (ticketed only)")
    for k, v in rep.category.items():
        lines.append(f"{k:<14}{v.precision:>7.3f}{v.recall:>7.3f}{v.f1:>7.3f}{v.support:>6}")
    c, cr, u = rep.complaint_f1, rep.complaint_f1_raw, rep.urgent
    lines += [
        "",
        f"complaint-vs-not (ticketed)  P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}",
        f"complaint-vs-not (intent)    P {cr.precision:.3f}  R {cr.recall:.3f}  F1 {cr.f1:.3f}",
        f"category accuracy on complaints  {rep.category_accuracy:.3f}",
        f"urgent  recall {u.recall:.3f}  precision {u.precision:.3f}  (n={u.support})",
        f"false-ticket rate on none  {rep.false_ticket_rate_none:.3f}",
        "",
        "confusion (gold row -> predicted; ? = borderline)",
    ]
    for g in sorted(rep.confusion):
        cells = ", ".join(f"{p}:{n}" for p, n in rep.confusion[g].most_common())
        lines.append(f"  {g:<22} {cells}")
    if show_errors and rep.errors:
        lines += ["", "errors:"]
        for item, pred in rep.errors:
            gold = _label(item.intent, item.category) + ("!" if item.urgent else "")
            got = _label(pred.intent, pred.category) + ("?" if pred.borderline else "")
            got += "!" if pred.urgent else ""
            lines.append(f"  {gold:<22} {got:<24} {item.text}  {list(pred.keywords)}")
    return "\n".join(lines)
