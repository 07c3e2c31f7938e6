"""Finding the place a message names: building, unit, floor, room and named places."""

from __future__ import annotations

import re
from collections.abc import Iterable

from nlp.normalise import cn_to_int
from nlp.understanding import Location

_N = r"[0-9零〇一二两三四五六七八九十百]{1,4}"
# 3-2-502 / 3号楼2-502: building-unit-room as people type it in a hurry
_TRIPLE = re.compile(r"(?<![0-9])([0-9]{1,3})[-—－]([0-9]{1,2})[-—－]([0-9]{3,4})(?![0-9])")
_BUILDING = re.compile(rf"({_N})\s*(?:号楼|號樓|#楼|＃楼|#|栋|棟|幢|座|号院)")
_UNIT = re.compile(rf"({_N})\s*(?:单元|門|门洞)")
# 5楼 / 五层, but not 5楼道/楼梯/楼下/楼上/楼顶 (those are places, not floors)
_FLOOR = re.compile(rf"(?<![号#0-9])({_N})\s*(?:楼|层|樓)(?![道梯下上顶房])")
# a 3-4 digit room number that is not a year, an amount, a time or part of a phone number
_ROOM = re.compile(
    r"(?<![0-9.:：\-])([0-9]{3,4})(?:室|户)?"
    r"(?![0-9.:：年元块号栋幢楼米平度分秒天个次人斤万%％kKgG多])"
)
_UNIT_ROOM = re.compile(r"单元\s*-?\s*([0-9]{3,4})(?![0-9])")


def _num(raw: str) -> int | None:
    return cn_to_int(raw)


class LocationFinder:
    """Extracts a Location from cleaned text; named places come from the taxonomy."""

    def __init__(self, places: Iterable[str]) -> None:
        names = sorted({p for p in places if p}, key=len, reverse=True)
        # longest first so 地下车库 wins over 车库
        self._places = re.compile("|".join(map(re.escape, names))) if names else None

    def find(self, text: str) -> Location | None:
        """The place named in text, or None when there is none."""
        building = unit = floor = room = place = None
        if any(c.isdigit() for c in text) or any(c in "一二两三四五六七八九十" for c in text):
            t = _TRIPLE.search(text)
            if t:
                building, unit, room = f"{int(t[1])}号楼", f"{int(t[2])}单元", t[3]
            if building is None and (b := _BUILDING.search(text)):
                n = _num(b[1])
                building = f"{n}号楼" if n else None
            if unit is None and (u := _UNIT.search(text)):
                n = _num(u[1])
                # 门 alone is only a unit when a building is named (3号楼2门)
                if n and (u[0].endswith("单元") or building):
                    unit = f"{n}单元"
            if f := _FLOOR.search(text):
                n = _num(f[1])
                floor = f"{n}楼" if n and n < 100 else None
            if room is None:
                r = _UNIT_ROOM.search(text) or _ROOM.search(text)
                if r:
                    room = r[1]
        if self._places and (p := self._places.search(text)):
            place = p[0]
        if not (building or unit or floor or room or place):
            return None
        return Location(building=building, unit=unit, floor=floor, room=room, place=place)
