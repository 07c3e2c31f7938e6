"""Failed dashboard sign-ins, kept in the database: every process of a deployment (one per
WeChat account, each with its web page) counts the same tries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from storage.models import SignInFailure


def failures_since(
    session: Session, keys: Sequence[str], since: datetime
) -> dict[str, tuple[int, datetime]]:
    """For each key with failures after a moment: how many, and the oldest of them."""
    rows = session.exec(
        select(SignInFailure.key, func.count(), func.min(SignInFailure.at))
        .where(col(SignInFailure.key).in_(list(keys)), col(SignInFailure.at) > since)
        .group_by(col(SignInFailure.key))
    ).all()
    return {key: (int(n), oldest) for key, n, oldest in rows}


def record_failure(
    session: Session, keys: Sequence[str], at: datetime, forget_before: datetime
) -> None:
    """Count one failed try under each key; failures from before ``forget_before`` (no
    longer counted by anyone) are deleted, so the table holds minutes of them, not years."""
    session.execute(delete(SignInFailure).where(col(SignInFailure.at) <= forget_before))
    session.add_all([SignInFailure(key=key, at=at) for key in keys])


def forget_failures(session: Session, key: str) -> None:
    """Forget a key's failures (an account's, after its right password)."""
    session.execute(delete(SignInFailure).where(col(SignInFailure.key) == key))
