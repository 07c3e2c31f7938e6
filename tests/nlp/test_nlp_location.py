"""Places named in messages, numbers normalised (Chinese numerals included)."""

from __future__ import annotations

import pytest

from nlp import Classifier
from nlp.location import LocationFinder
from nlp.normalise import clean, cn_to_int
from nlp.understanding import Location

FINDER = LocationFinder(["东门", "地下车库", "车库", "楼道", "垃圾站"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3号楼2单元502漏水", "3号楼2单元502"),
        ("三号楼又停水", "3号楼"),
        ("9栋门口", "9号楼"),
        ("十二幢的灯", "12号楼"),
        ("2单元5楼", "2单元5楼"),
        ("二单元五楼楼道", "2单元5楼楼道"),
        ("我家502卫生间", "502"),
        ("3-2-502楼上", "3号楼2单元502"),
        ("东门那边", "东门"),
        ("地下车库积水", "地下车库"),
        ("5#楼1单元", "5号楼1单元"),
    ],
)
def test_location_text(text: str, expected: str) -> None:
    loc = FINDER.find(text)
    assert loc is not None
    assert loc.text == expected


@pytest.mark.parametrize(
    "text",
    ["2024年物业费", "交了1000块", "电话13912345678", "今天15号", "等了30分钟", "没有地方"],
)
def test_numbers_that_are_not_places(text: str) -> None:
    loc = FINDER.find(text)
    assert loc is None or (loc.room is None and loc.building is None)


def test_parts_are_separate_fields() -> None:
    loc = FINDER.find("9栋2单元五楼502东门")
    assert loc == Location(building="9号楼", unit="2单元", floor="5楼", room="502", place="东门")
    assert loc.text == "9号楼2单元502东门"  # 502 already says the floor
    assert loc.to_dict()["text"] == loc.text


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("两", 2), ("五零二", 502),
     ("一百零二", 102), ("12", 12), ("x", None)],
)  # fmt: skip
def test_cn_to_int(numeral: str, value: int | None) -> None:
    assert cn_to_int(numeral) == value


def test_clean_strips_mentions_stickers_emoji() -> None:
    assert clean("@物业管家\u2005电梯坏了[捂脸]😡") == "电梯坏了"
    assert clean("@张三 @李四 停水了") == "停水了"
    assert clean("ＯＫ５０２") == "OK502"


def test_complaint_carries_location(clf: Classifier) -> None:
    u = clf.classify("九栋二单元的楼道灯坏了")
    assert u.location is not None
    assert u.location.building == "9号楼" and u.location.unit == "2单元"
