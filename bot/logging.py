"""Logging: loguru for the bot, with the standard library's loggers routed into it."""

from __future__ import annotations

import logging
import sys

from loguru import logger


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


_routed = False


def route_std_logging() -> None:
    """Send apscheduler's and aiohttp's logging records to loguru."""
    global _routed
    if _routed:
        return
    _routed = True
    for name in ("apscheduler", "aiohttp.access", "aiohttp.server", "alembic"):
        lg = logging.getLogger(name)
        lg.handlers = [_InterceptHandler()]
        lg.propagate = False
        lg.setLevel(logging.INFO if name != "apscheduler" else logging.WARNING)


def configure(level: str = "INFO") -> None:
    """One readable line per event on stderr."""
    logger.remove()
    logger.add(
        sys.stderr,
        level=level,
        format="<green>{time:YYYY-MM-DD HH:mm:ss}</green> {level: <7} {message}",
        backtrace=False,
        diagnose=False,
    )  # diagnose would print variables: personal data
