"""Arbitrary text never crashes the classifier and always yields a valid Understanding."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp import Classifier, Understanding, default_classifier

_DOMAIN = [
    *"电梯坏了漏水停暖气垃圾臭吵车位物业费煤气味着火号楼单元栋三五十@[]？！，。 \u2005",
    *("[捂脸]", "😡", "修好了", "收到", "【通知】", "不", "没有", "502", "一滴都没有"),
]
_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(_DOMAIN), max_size=60).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_any_text_gives_a_valid_understanding(text: str) -> None:
    clf: Classifier = default_classifier()
    u = clf.classify(text)
    assert isinstance(u, Understanding)
    assert u.intent in ("complaint", "consult", "none")
    if u.intent == "complaint":
        assert u.category in clf.categories
    else:
        assert u.category is None and not u.borderline
    assert not (u.borderline and u.intent != "complaint")
    assert 0.0 <= u.confidence <= 1.0
    assert all(isinstance(k, str) and k for k in u.keywords)
    json.dumps(u.to_dict(), ensure_ascii=False)
    forced = u.as_complaint()
    assert forced.intent == "complaint" and forced.category in clf.categories


def _found(
    clf: Classifier, text: str, candidates: list[tuple[int, int]]
) -> list[tuple[object, ...]]:
    return [(m.start, m.end, m.surface, m.negated, m.inner) for m in clf._matches(text, candidates)]


def _taxonomy_text() -> st.SearchStrategy[str]:
    """Texts of taxonomy words, their pieces and the characters around them in chat."""
    clf = default_classifier()
    words = sorted(clf.taxonomy.entries)
    pieces = sorted({w[: len(w) // 2 + 1] for w in words if len(w) > 2})
    return st.lists(
        st.one_of(
            st.sampled_from(words),
            st.sampled_from(pieces),
            st.sampled_from(_DOMAIN),
            st.sampled_from(list("的了我你他在是有不没很太又还就都也好大家今天")),
        ),
        max_size=24,
    ).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_taxonomy_text())
def test_words_looked_up_without_jieba_are_those_in_jiebas_graph(text: str) -> None:
    """The scan without jieba (for texts with none of the taxonomy's single characters)
    finds exactly what jieba's word graph gives: every word of several characters, in the
    same order, whatever the text; with no single character in it, the same matches."""
    clf: Classifier = default_classifier()
    several = [(i, end) for i, end in clf._on_jiebas_route(text) if end > i + 1]
    assert _found(clf, text, clf._looked_up(text)) == _found(clf, text, several)
    if clf._single.keys().isdisjoint(text):
        assert _found(clf, text, clf._looked_up(text)) == _found(
            clf, text, clf._on_jiebas_route(text)
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_taxonomy_text(), _TEXT))
def test_the_route_is_jiebas_own_float_for_float(text: str) -> None:
    """The classifier's route through jieba's graph (word costs kept) is jieba's calc."""
    clf: Classifier = default_classifier()
    tk = clf._tokenizer
    dag = tk.get_DAG(text)
    jiebas: dict[int, tuple[float, int]] = {}
    tk.calc(text, dag, jiebas)
    assert clf._route(text, dag) == jiebas


def test_nlp_never_imports_the_bot() -> None:
    root = Path(__file__).resolve().parents[2] / "nlp"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"bot", "handlers", "storage"}, (path, name)
