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
