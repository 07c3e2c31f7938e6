"""Storage: the tables (sqlmodel), migrations (alembic) and the queries the handlers use.

Never imports ``bot`` or ``handlers``.
"""

from storage.db import Database, SchemaBehind

__all__ = ["Database", "SchemaBehind"]
