"""Shared CLI plumbing: settings, database, output (errors: platform_core/cli/errors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    """The process settings."""
    return get_settings()


@contextmanager
def database(pool_size: int = 2) -> Iterator[Database]:
    """A Database for one CLI command, disposed at the end."""
    db = Database(settings(), pool_size=pool_size)
    try:
        yield db
    finally:
        db.dispose_sync()


def fmt(value: Any) -> str:
    """Render an optional value for a table cell."""
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    return str(value)
