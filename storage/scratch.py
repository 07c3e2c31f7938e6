"""A scratch schema on a PostgreSQL server, for tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def sync_postgres_schema(server_url: str) -> Iterator[str]:
    """Create a fresh schema, yield a URL whose search_path is it, drop it afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    base = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        finally:
            admin.dispose()


@asynccontextmanager
async def postgres_schema(server_url: str) -> AsyncIterator[str]:
    """Create a fresh schema, yield a URL whose search_path is it, drop it afterwards."""
    with sync_postgres_schema(server_url) as url:
        yield url
