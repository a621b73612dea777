"""Alembic configuration for the two migration histories: `public` and the per-tenant one."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from alembic.config import Config
from alembic.script import ScriptDirectory

History = Literal["public", "tenant"]


def alembic_config(migrations_dir: Path, history: History, database_url: str | None = None) -> Config:
    """Build an Alembic Config for one history without needing alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir / history))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(migrations_dir / history / "versions"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if database_url:
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


@lru_cache(maxsize=8)
def script_directory(migrations_dir: Path, history: History) -> ScriptDirectory:
    """The parsed script directory of a history (cached: parsing reads every revision file)."""
    return ScriptDirectory.from_config(alembic_config(migrations_dir, history))


def head_revision(migrations_dir: Path, history: History) -> str:
    """The single head of a history; several heads is a programming error."""
    heads = script_directory(migrations_dir, history).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the {history} migration history must have exactly one head, found {heads}")
    return heads[0]
