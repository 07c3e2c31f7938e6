"""Plain statements that SQLite and PostgreSQL both understand, spelled per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

# statements built once per dialect and shape: SQLAlchemy then finds their compiled form in
# its cache without rebuilding and re-hashing a new construct for every message
_STATEMENTS: dict[tuple[str, Any, str], Any] = {}


def dialect_name(session: Session) -> str:
    """ "sqlite" or "postgresql" (without checking out a connection)."""
    return session.get_bind().dialect.name


def insert_ignore_statement(session: Session, model: Any, returning_id: bool = False) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for a table, in the session's dialect (cached)."""
    name = dialect_name(session)
    key = (name, model, "returning" if returning_id else "plain")
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        base = postgresql.insert(model) if name == "postgresql" else sqlite.insert(model)
        stmt = base.on_conflict_do_nothing()
        if returning_id:
            stmt = stmt.returning(model.id)
        _STATEMENTS[key] = stmt
    return stmt


def insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; how many rows went in (-1: the driver cannot tell).

    psycopg under SQLAlchemy 2.1 reports -1 for these: use insert_ignore_returning_id when
    the answer matters.
    """
    stmt = insert_ignore_statement(session, model)
    return int(session.connection().execute(stmt, rows).rowcount or 0)


def insert_ignore_returning_id(session: Session, model: Any, row: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None if it existed."""
    stmt = insert_ignore_statement(session, model, returning_id=True)
    found = session.connection().execute(stmt, row).first()
    return int(found[0]) if found is not None else None
