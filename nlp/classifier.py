"""A first keyword classifier; issue 3 replaces it with the real one."""

from __future__ import annotations

import re
from functools import lru_cache

from nlp.understanding import Location, Understanding

_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "repair": ("灯坏", "坏了", "漏水", "电梯", "堵了", "门禁"),
    "sanitation": ("垃圾", "卫生", "臭"),
    "safety": ("电动车", "煤气", "飞线", "消防"),
    "parking": ("车位", "停车", "挡路"),
    "order": ("噪音", "装修", "吵"),
    "fees": ("物业费", "收费"),
    "utilities": ("停水", "停电", "暖气", "没水"),
    "service": ("态度", "没人管"),
}
_URGENT = ("煤气", "着火", "冒烟", "困", "爆管")
_NONE = ("收到", "谢谢", "好的")
_BUILDING = re.compile(r"(\d+)\s*(?:号楼|栋|幢)")
_UNIT = re.compile(r"(\d+)\s*单元")


class Classifier:
    """Keyword classifier over a fixed word list."""

    categories: dict[str, str] = {  # noqa: RUF012
        "repair": "设施维修",
        "sanitation": "环境卫生",
        "safety": "安全隐患",
        "parking": "停车管理",
        "order": "邻里秩序",
        "fees": "收费公开",
        "utilities": "水电暖气",
        "service": "物业服务",
    }

    def classify(self, text: str) -> Understanding:
        """Understand one message."""
        if any(w in text for w in _NONE) and len(text) < 10:
            return Understanding(intent="none")
        for code, words in _CATEGORY_WORDS.items():
            hits = tuple(w for w in words if w in text)
            if hits:
                b = _BUILDING.search(text)
                u = _UNIT.search(text)
                loc = Location(
                    building=f"{b.group(1)}号楼" if b else None,
                    unit=f"{u.group(1)}单元" if u else None,
                )
                return Understanding(
                    intent="complaint",
                    category=code,
                    urgent=any(w in text for w in _URGENT),
                    location=loc if loc.text else None,
                    keywords=hits,
                    confidence=0.6,
                    best_category=code,
                )
        return Understanding(intent="none")


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The classifier built from the default taxonomy."""
    return Classifier()


def classify(text: str) -> Understanding:
    """Understand one group message with the default classifier."""
    return default_classifier().classify(text)
