"""Ranges and moments people type: 阳光花园3号楼, 阳光花园, 华福社区, lists; 11-24 09:00."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from handlers.context import Services
from handlers.errors import DomainError
from storage.directory import BuildingInfo, Directory

SEPARATORS = re.compile(r"[,，、;；]+")
# roles that may speak to groups at all (the buildings their grants cover)
SPEAKING_ROLES = frozenset(
    {
        "red_steward",
        "grid_worker",
        "community_secretary",
        "street_officer",
        "district_officer",
        "admin",
    }
)


@dataclass(frozen=True, slots=True)
class Scope:
    """A range resolved to buildings and their groups."""

    label: str
    buildings: tuple[BuildingInfo, ...]
    rooms: tuple[str, ...]


def _stem(name: str) -> str:
    return name.removesuffix("号楼").removesuffix("栋").removesuffix("号").removesuffix("楼")


def _building_named(d: Directory, word: str) -> BuildingInfo | None:
    """阳光花园3号楼, 阳光花园3栋, 阳光花园3: a building by compound and forgiving name."""
    for b in d.buildings.values():
        rest = word.removeprefix(b.compound)
        if rest != word and rest and _stem(rest) == _stem(b.name):
            return b
    return None


def resolve_piece(d: Directory, word: str) -> list[BuildingInfo] | None:
    """The buildings one range word names: a building, compound, community, street, district."""
    b = _building_named(d, word)
    if b is not None:
        return [b]
    for attr in ("compound", "community", "street", "district"):
        found = [x for x in d.buildings.values() if getattr(x, attr) == word]
        if found:
            return found
    if word in ("全部", "所有", "全体"):
        return list(d.buildings.values())
    return None


def resolve_scope(d: Directory, text: str) -> Scope:
    """A range (one word or a list) to buildings and groups; DomainError names what is unknown."""
    pieces = [p.strip() for p in SEPARATORS.split(text) if p.strip()]
    if not pieces:
        raise DomainError("请写明范围，例如：阳光花园3号楼、阳光花园、华福社区。")
    chosen: dict[int, BuildingInfo] = {}
    unknown = []
    for p in pieces:
        found = resolve_piece(d, p)
        if found is None:
            unknown.append(p)
            continue
        for b in found:
            chosen[b.id] = b
    if unknown:
        known = "、".join(sorted({b.compound for b in d.buildings.values()}))
        raise DomainError(
            f"没有找到范围“{'、'.join(u[:20] for u in unknown)}”。"
            f"可写楼栋（阳光花园3号楼）、小区、社区或街道；已登记的小区：{known or '（无）'}。"
        )
    buildings = tuple(sorted(chosen.values(), key=lambda b: b.id))
    rooms = tuple(sorted(r for b in buildings for r in d.rooms_of_building(b.id)))
    return Scope("、".join(pieces), buildings, rooms)


def allowed_buildings(d: Directory, person_id: str, roles: frozenset[str]) -> set[int]:
    """The buildings a person may address with one of the roles (admin: all)."""
    p = d.person(person_id)
    if p is None:
        return set()
    if any(g.role == "admin" for g in p.grants):
        return set(d.buildings)
    return {
        b.id
        for b in d.buildings.values()
        if any(g.role in roles and d.grant_covers(g, b) for g in p.grants)
    }


def check_reach(d: Directory, person_id: str, scope: Scope, roles: frozenset[str]) -> None:
    """Refuse a range beyond the sender's area, naming what is outside it."""
    mine = allowed_buildings(d, person_id, roles)
    outside = [b for b in scope.buildings if b.id not in mine]
    if outside:
        names = "、".join(b.label for b in outside[:5]) + ("等" if len(outside) > 5 else "")
        raise DomainError(f"抱歉，{names}不在您负责的范围内，只能面向您负责的楼栋、社区或街道。")


_WHEN = re.compile(
    r"(?:(?P<y>\d{4})[-/年.])?(?P<m>\d{1,2})[-/月.](?P<d>\d{1,2})日?"
    r"|(?P<rel>今天|明天|后天)"
)
_CLOCK = re.compile(r"(?P<h>\d{1,2})[:：点时](?P<min>\d{1,2})?分?")


def parse_moment(services: Services, text: str, now: datetime) -> datetime | None:
    """A local moment as people write it: 2026-11-24 09:00, 11月24日 9:00, 明天 8点; as UTC."""
    t = text.strip().replace("号", "日")
    m = _WHEN.match(t)
    if not m:
        return None
    today = services.local(now).date()
    if m.group("rel"):
        day = today + timedelta(days=("今天", "明天", "后天").index(m.group("rel")))
    else:
        year = int(m.group("y")) if m.group("y") else today.year
        try:
            day = date(year, int(m.group("m")), int(m.group("d")))
        except ValueError:
            return None
        if not m.group("y") and day < today:
            day = date(year + 1, day.month, day.day)
    rest = t[m.end() :].strip()
    at = time(0, 0)
    if rest:
        c = _CLOCK.fullmatch(rest.replace(" ", ""))
        if not c:
            return None
        hour, minute = int(c.group("h")), int(c.group("min") or 0)
        if hour > 23 or minute > 59:
            return None
        at = time(hour, minute)
    elif not m.group("rel") and not m.group("y") and not m.group("m"):
        return None
    local = datetime.combine(day, at, tzinfo=services.tz)
    return local.astimezone(now.tzinfo)


def short_local(services: Services, moment: datetime) -> str:
    """11月24日 09:00 in local time."""
    local = services.local(moment)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


_PREFIX = re.compile(r"^[#＃/／]\s*")
_GAP = re.compile(r"[\s\u2005]+")


def original_tail(text: str, words: tuple[str, ...], skip: int, parsed: str) -> str:
    """The text after the command word and `skip` words, as written (full-width kept).

    Commands are parsed from a normalised copy (＃→#, ，→,); what is posted to groups keeps
    the sender's own punctuation. Falls back to the parsed text if the original differs.
    """
    t = _PREFIX.sub("", text.strip())
    t = re.sub(r"^(@\S+[\s\u2005]+)+", "", t)
    for w in sorted(words, key=len, reverse=True):
        if t.lower().startswith(w.lower()):
            t = t[len(w) :]
            break
    else:
        return parsed
    parts = _GAP.split(t.strip(), maxsplit=skip)
    tail = parts[skip].strip() if len(parts) > skip else ""
    return tail if _same(tail, parsed) else parsed


def _same(a: str, b: str) -> bool:
    import unicodedata

    def norm(x: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", x))

    return norm(a) == norm(b)
