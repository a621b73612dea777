"""Shared CLI plumbing: settings, database, error reporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from platform_core.db.engines import Database
from platform_core.errors import AppError
from platform_core.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


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


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an AppError into a one-line message and exit code 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AppError as exc:
            err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
            raise typer.Exit(1) from exc

    return wrapper


def fmt(value: Any) -> str:
    """Render an optional value for a table cell."""
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return value.isoformat(timespec="seconds")
    return str(value)
