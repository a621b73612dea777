"""job.user_id: who asked for a job (its realtime events go to that user)

Revision ID: 5e8a1b7c2d94
Revises: c41d7e2a9b30
Create Date: 2026-12-04 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8a1b7c2d94"
down_revision: str | Sequence[str] | None = "c41d7e2a9b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("job", sa.Column("user_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("job", "user_id")
