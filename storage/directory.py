"""Who and where: buildings, rooms, people and roles, as one in-memory snapshot.

The snapshot is rebuilt from the tables whenever they change (config sync, admin commands),
so handlers answer "who is the steward of this building" without a query. Several processes
may share one database (one per WeChat account): a change bumps a version counter in the
database, and every process compares it with its snapshot's version now and then.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import (
    AuditLog,
    Building,
    Community,
    Compound,
    Counter,
    Person,
    RoleAssignment,
    Room,
)
from storage.sql import insert_ignore

LADDER_ROLES = ("grid_worker", "community_secretary", "street_officer", "district_officer")


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    """A building with the names of everything above it."""

    id: int
    name: str
    compound_id: int
    compound: str
    community_id: int
    community: str
    street: str
    district: str

    @property
    def label(self) -> str:
        """阳光花园3号楼."""
        return f"{self.compound}{self.name}"


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """One role of a person and where it applies."""

    role: str
    scope_kind: str  # building | compound | community | street | district | global
    scope_value: str


@dataclass(slots=True)
class PersonInfo:
    """A person known to the bot."""

    id: str
    name: str
    grants: list[RoleGrant] = field(default_factory=list)

    @property
    def roles(self) -> set[str]:
        """The roles held anywhere ('resident' when none)."""
        return {g.role for g in self.grants} or {"resident"}


@dataclass(slots=True)
class Directory:
    """The snapshot: buildings, rooms, people with roles."""

    buildings: dict[int, BuildingInfo] = field(default_factory=dict)
    rooms: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # id -> topic, bldg
    people: dict[str, PersonInfo] = field(default_factory=dict)
    communities: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # name,street,dist
    version: int = 0  # the database's directory version this snapshot was read at
    _rooms_by_building: dict[int, list[str]] = field(default_factory=dict)

    def building_of_room(self, room_id: str | None) -> BuildingInfo | None:
        """The building a room is bound to."""
        if room_id is None or room_id not in self.rooms:
            return None
        bid = self.rooms[room_id][1]
        return self.buildings.get(bid) if bid is not None else None

    def rooms_of_building(self, building_id: int) -> list[str]:
        """The rooms bound to a building."""
        return self._rooms_by_building.get(building_id, [])

    def find_building(self, compound: str, building: str) -> BuildingInfo | None:
        """A building by compound and building name."""
        for b in self.buildings.values():
            if b.compound == compound and b.name == building:
                return b
        return None

    def person(self, person_id: str) -> PersonInfo | None:
        """A known person by chat id."""
        return self.people.get(person_id)

    def person_by_name(self, name: str) -> PersonInfo | None:
        """A known person by display name (the first one, names are not unique)."""
        for p in self.people.values():
            if p.name == name:
                return p
        return None

    def grant_covers(self, grant: RoleGrant, building: BuildingInfo) -> bool:
        """Whether a role grant applies to a building."""
        kind, value = grant.scope_kind, grant.scope_value
        return (
            kind == "global"
            or (kind == "building" and value == str(building.id))
            or (kind == "compound" and value == str(building.compound_id))
            or (kind == "community" and value == str(building.community_id))
            or (kind == "street" and value == building.street)
            or (kind == "district" and value == building.district)
        )

    def holds(self, person_id: str, role: str, building: BuildingInfo | None = None) -> bool:
        """Whether a person holds a role (for a building, if one is given)."""
        p = self.people.get(person_id)
        if p is None:
            return role == "resident"
        return any(
            g.role == role and (building is None or self.grant_covers(g, building))
            for g in p.grants
        )

    def holders(self, role: str, building: BuildingInfo) -> list[PersonInfo]:
        """Everyone holding a role that applies to a building."""
        return [
            p
            for p in self.people.values()
            if any(g.role == role and self.grant_covers(g, building) for g in p.grants)
        ]

    def stewards_of(self, building: BuildingInfo) -> list[PersonInfo]:
        """The red stewards serving a building."""
        return self.holders("red_steward", building)

    def buildings_visible_to(self, person_id: str) -> set[int]:
        """The buildings a person's roles reach (all for an admin)."""
        p = self.people.get(person_id)
        if p is None:
            return set()
        return {
            b.id
            for b in self.buildings.values()
            if any(g.role != "resident" and self.grant_covers(g, b) for g in p.grants)
        }


def load_directory(session: Session) -> Directory:
    """Build the snapshot from the tables."""
    # the version is read first: a change committed after it bumps it again, so a snapshot
    # is never newer-looking than its data
    d = Directory(version=directory_version(session))
    communities = {c.id: c for c in session.exec(select(Community))}
    compounds = {c.id: c for c in session.exec(select(Compound))}
    for cid, c in communities.items():
        assert cid is not None
        d.communities[cid] = (c.name, c.street, c.district)
    for b in session.exec(select(Building)):
        comp = compounds[b.compound_id]
        comm = communities[b.community_id]
        assert b.id is not None
        d.buildings[b.id] = BuildingInfo(
            b.id,
            b.name,
            b.compound_id,
            comp.name,
            b.community_id,
            comm.name,
            comm.street,
            comm.district,
        )
    by_building: dict[int, list[str]] = defaultdict(list)
    for r in session.exec(select(Room)):
        d.rooms[r.id] = (r.topic, r.building_id)
        if r.building_id is not None:
            by_building[r.building_id].append(r.id)
    d._rooms_by_building = dict(by_building)
    grants: dict[str, list[RoleGrant]] = defaultdict(list)
    for g in session.exec(select(RoleAssignment).where(RoleAssignment.revoked == False)):  # noqa: E712
        grants[g.person_id].append(RoleGrant(g.role, g.scope_kind, g.scope_value))
    # only people with roles live in the snapshot; residents are looked up when they write
    for pid, gs in grants.items():
        person = session.get(Person, pid)
        if person is not None:
            d.people[pid] = PersonInfo(pid, person.name, gs)
    return d


def audit(session: Session, now: datetime, actor_id: str | None, action: str, detail: str) -> None:
    """Log a change to buildings, groups, people or roles."""
    session.add(AuditLog(time=now, actor_id=actor_id, action=action, detail=detail))


DIRECTORY_VERSION = "directory"  # the Counter row every change to the directory bumps


def directory_version(session: Session) -> int:
    """The directory's version in the database (0 before the first change)."""
    found = session.exec(select(Counter.value).where(col(Counter.name) == DIRECTORY_VERSION))
    return int(found.first() or 0)


def bump_directory_version(session: Session) -> None:
    """Record that the directory changed, so other processes reload their snapshots."""
    insert_ignore(session, Counter, [{"name": DIRECTORY_VERSION, "value": 0}])
    session.connection().execute(
        update(Counter)
        .where(col(Counter.name) == DIRECTORY_VERSION)
        .values(value=Counter.value + 1)
    )


def load_changed_directory(session: Session) -> Directory:
    """After a change: bump the version and build the snapshot, in one transaction."""
    bump_directory_version(session)
    return load_directory(session)
