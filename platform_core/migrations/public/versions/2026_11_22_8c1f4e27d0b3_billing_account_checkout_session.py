"""billing account remembers its open checkout session

Revision ID: 8c1f4e27d0b3
Revises: 2ad58e2be761
Create Date: 2026-11-22 05:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c1f4e27d0b3"
down_revision: str | Sequence[str] | None = "2ad58e2be761"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("billing_account", sa.Column("checkout_session_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("billing_account", "checkout_session_id")
