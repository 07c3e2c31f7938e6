"""Domain errors: raised by handlers, turned into polite replies by one central handler."""

from __future__ import annotations


class DomainError(Exception):
    """Something the sender should be told politely; nothing was changed."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class UsageError(DomainError):
    """A malformed command: the reply is its usage line."""

    def __init__(self, usage: str, problem: str | None = None) -> None:
        text = f"格式不对：{problem}。用法：{usage}" if problem else f"用法：{usage}"
        super().__init__(text)
        self.usage = usage


class NotAllowed(DomainError):
    """The sender's role or area does not allow this; the reply says who can."""
