"""Bring the configuration into the database: communities, buildings, rooms, people, roles.

Config is the seed: what it names is created when missing; changes made later from the chat
or the dashboard (a group re-bound, a role revoked) are kept across restarts.
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from sqlmodel import Session, select

from config.schema import RoleConfig, Settings
from storage.models import Building, Community, Compound, Person, RoleAssignment, Room

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2 hash of a dashboard password."""
    return _hasher.hash(password)


def _scope(
    role: RoleConfig,
    compound_ids: dict[str, int],
    building_ids: dict[tuple[str, str], int],
    community_ids: dict[str, int],
) -> list[tuple[str, str]]:
    if role.role in ("red_steward", "grid_worker"):
        assert role.compound is not None
        if role.buildings:
            return [("building", str(building_ids[(role.compound, b)])) for b in role.buildings]
        return [("compound", str(compound_ids[role.compound]))]
    if role.role == "community_secretary":
        assert role.community is not None
        return [("community", str(community_ids[role.community]))]
    if role.role == "street_officer":
        assert role.street is not None
        return [("street", role.street)]
    if role.role == "district_officer":
        assert role.district is not None
        return [("district", role.district)]
    if role.role == "admin":
        return [("global", "*")]
    return []


def sync_config(session: Session, settings: Settings, now: datetime) -> None:
    """Create what the configuration names and the database lacks."""
    community_ids: dict[str, int] = {}
    compound_ids: dict[str, int] = {}
    building_ids: dict[tuple[str, str], int] = {}
    for c in settings.communities:
        comm = session.exec(select(Community).where(Community.name == c.name)).first()
        if comm is None:
            comm = Community(name=c.name, street=c.street, district=c.district)
            session.add(comm)
            session.flush()
        elif (comm.street, comm.district) != (c.street, c.district):
            comm.street, comm.district = c.street, c.district
            session.add(comm)
        assert comm.id is not None
        community_ids[c.name] = comm.id
        for cc in c.compounds:
            comp = session.exec(
                select(Compound).where(Compound.community_id == comm.id, Compound.name == cc.name)
            ).first()
            if comp is None:
                comp = Compound(community_id=comm.id, name=cc.name)
                session.add(comp)
                session.flush()
            assert comp.id is not None
            compound_ids[cc.name] = comp.id
            for bname in cc.buildings:
                b = session.exec(
                    select(Building).where(Building.compound_id == comp.id, Building.name == bname)
                ).first()
                if b is None:
                    b = Building(compound_id=comp.id, community_id=comm.id, name=bname)
                    session.add(b)
                    session.flush()
                assert b.id is not None
                building_ids[(cc.name, bname)] = b.id
    for r in settings.rooms:
        room = session.get(Room, r.id)
        if room is None:
            session.add(
                Room(
                    id=r.id,
                    topic=r.topic,
                    building_id=building_ids[(r.compound, r.building)],
                    account=settings.bot.self_id,
                    updated_at=now,
                )
            )
        elif room.account is None:
            room.account = settings.bot.self_id  # the account whose config names it
            session.add(room)
    for p in settings.people:
        person = session.get(Person, p.id)
        if person is None:
            person = Person(id=p.id, name=p.name, created_at=now)
        person.name = p.name
        if p.password and not person.password_hash:
            person.password_hash = hash_password(p.password)
        session.add(person)
        session.flush()
        for role in p.roles:
            for kind, value in _scope(role, compound_ids, building_ids, community_ids):
                exists = session.exec(
                    select(RoleAssignment).where(
                        RoleAssignment.person_id == p.id,
                        RoleAssignment.role == role.role,
                        RoleAssignment.scope_kind == kind,
                        RoleAssignment.scope_value == value,
                    )
                ).first()
                if exists is None:
                    session.add(
                        RoleAssignment(
                            person_id=p.id, role=role.role, scope_kind=kind, scope_value=value
                        )
                    )
