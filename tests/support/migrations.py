"""Tenant revisions the tests add on top of the head, in a copy of the migrations directory."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.settings import PROJECT_ROOT, Settings
from tenants.fleet import upgrade_public
from tests.conftest import make_settings

_TEMPLATE = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    """{message}"""
{upgrade}


def downgrade() -> None:
    """Undo it."""
{downgrade}
'''

# A column and its index on `item`: the real migration the fleet tests run.
ADD_PRIORITY = (
    'op.add_column("item", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))',
    'op.create_index("ix_item_priority", "item", ["priority"])',
)
DROP_PRIORITY = (
    'op.drop_index("ix_item_priority", table_name="item")',
    'op.drop_column("item", "priority")',
)


def revision_source(
    *, revision: str, down: str, message: str, upgrade: Sequence[str], downgrade: Sequence[str] = ("pass",)
) -> str:
    """The source of an Alembic revision file whose upgrade and downgrade run these lines."""

    def body(lines: Sequence[str]) -> str:
        return "\n".join(f"    {line}" for line in lines)

    return _TEMPLATE.format(
        message=message, revision=revision, down=down, upgrade=body(upgrade), downgrade=body(downgrade)
    )


def database_with_migrations_copy(settings: Settings, suffix: str, where: Path) -> Settings:
    """Settings for a fresh database of its own (this worker's name + `suffix`) whose migrations
    directory is a copy under `where`, to which a test may add revisions; `public` is at head."""
    url = f"{settings.database_url}{suffix}"
    drop_database(url)
    ensure_database(url)
    migrations = where / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "platform_core" / "migrations",
        migrations,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    copied = make_settings(url, settings.redis_url, migrations_dir=migrations)
    upgrade_public(copied)
    return copied
