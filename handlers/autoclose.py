"""Closing a resolved ticket nobody rated: the lifecycle's close, and the reporters told.

The clock's deadline sweep (bot/jobs/deadlines.py) calls this when a resolved ticket's
"rating" deadline passes (``tickets.auto_close_hours`` after it was resolved).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers.context import Outbound, Services
from handlers.lifecycle import Act, close
from handlers.ticket_talk import auto_close_notices
from storage.models import Ticket


def close_one_unrated(
    session: Session, ticket: Ticket, now: datetime, services: Services
) -> list[Outbound]:
    """Close one resolved, unrated ticket; the messages (keyed, quiet) that tell its reporters."""
    close(session, ticket, Act(None, now, services.settings), by="auto")
    return auto_close_notices(session, [ticket], services.settings)
