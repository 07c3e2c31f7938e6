"""Plain statements that SQLite and PostgreSQL both understand, spelled per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def _insert(session: Session, model: Any) -> Any:
    if session.connection().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; how many rows went in."""
    stmt = _insert(session, model).on_conflict_do_nothing()
    return int(session.connection().execute(stmt, rows).rowcount or 0)


def insert_ignore_returning_id(session: Session, model: Any, row: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None if it existed."""
    stmt = _insert(session, model).on_conflict_do_nothing().returning(model.id)
    found = session.connection().execute(stmt, row).first()
    return int(found[0]) if found is not None else None


def insert_ignore_values(session: Session, model: Any, row: dict[str, Any]) -> bool:
    """INSERT … VALUES (… SQL expressions allowed …) ON CONFLICT DO NOTHING; True if new."""
    stmt = _insert(session, model).values(row).on_conflict_do_nothing()
    return bool(session.connection().execute(stmt).rowcount)
