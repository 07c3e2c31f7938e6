"""The taxonomy is configuration: words, categories and cues change without code."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from nlp import Classifier
from nlp.taxonomy import DEFAULT_TAXONOMY, TaxonomyError, load_taxonomy_file


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return load_taxonomy_file(DEFAULT_TAXONOMY)


def test_categories_have_labels(clf: Classifier) -> None:
    cats = clf.categories
    assert cats["repair"] == "设施维修"
    assert set(cats) == {
        "repair", "sanitation", "safety", "parking", "order", "fees", "utilities", "service",
    }  # fmt: skip
    assert {"reception_day", "five_listen", "contact", "fees"} <= set(clf.topics)


def test_a_word_added_in_config_works_without_code(base: dict[str, Any]) -> None:
    before = Classifier.from_config(base).classify("咕噜兽又来了")
    assert before.intent != "complaint"
    cfg = copy.deepcopy(base)
    cfg["categories"]["sanitation"]["strong"].append("咕噜兽")
    after = Classifier.from_config(cfg).classify("咕噜兽又来了")
    assert (after.intent, after.category) == ("complaint", "sanitation")
    assert "咕噜兽" in after.keywords


def test_a_category_added_in_config(base: dict[str, Any]) -> None:
    cfg = copy.deepcopy(base)
    cfg["categories"]["elderly"] = {"label": "适老服务", "strong": ["助餐点关门", "没人送餐"]}
    clf = Classifier.from_config(cfg)
    assert clf.categories["elderly"] == "适老服务"
    u = clf.classify("社区助餐点关门三天了")
    assert (u.intent, u.category) == ("complaint", "elderly")


def test_a_none_cue_added_in_config(base: dict[str, Any]) -> None:
    cfg = copy.deepcopy(base)
    cfg["none"]["notice"].append("【物业播报】")
    u = Classifier.from_config(cfg).classify("【物业播报】今天下午电梯维保，电梯停运一小时")
    assert u.intent == "none"


def test_from_file_reads_a_deployment_copy(tmp_path: Path) -> None:
    text = DEFAULT_TAXONOMY.read_text(encoding="utf-8").replace(
        'label = "设施维修"', 'label = "报修"'
    )
    path = tmp_path / "taxonomy.toml"
    path.write_text(text, encoding="utf-8")
    assert Classifier.from_file(path).categories["repair"] == "报修"


def test_malformed_config_fails_fast() -> None:
    with pytest.raises(TaxonomyError):
        Classifier.from_config({"categories": {}})
    with pytest.raises(TaxonomyError):
        Classifier.from_config({"categories": {"x": {"label": "X", "strong": "not a list"}}})


def test_the_pinyin_table_read_from_its_file_is_pypinyins_own() -> None:
    """The classifier reads pypinyin's data file instead of importing the package (memory):
    it must hold exactly what the package itself would give."""
    from pypinyin import pinyin_dict

    from nlp.classifier import _PINYIN_TABLE

    assert _PINYIN_TABLE == pinyin_dict.pinyin_dict
