"""Alembic environment for the shared `public` schema."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from platform_core.app.models import PublicBase
from platform_core.kernel.settings import get_settings, to_sqlalchemy_url

config = context.config


def _url() -> str:
    return to_sqlalchemy_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Only the public schema belongs to this history; tenant schemas have their own.
    return not (type_ == "table" and reflected and compare_to is None and name == "alembic_version")


def run() -> None:
    """Run public migrations on the given connection, or on a new one."""
    options: dict[str, Any] = {
        "target_metadata": PublicBase.metadata,
        "version_table_schema": "public",
        "include_schemas": False,
        "include_object": _include,
        "compare_type": True,
    }
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, **options)
        with context.begin_transaction():
            context.run_migrations()


run()
