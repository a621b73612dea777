"""report files go to the object storage

Revision ID: 7b2c4d6e8f10
Revises: 3d7e9a1c5b20
Create Date: 2026-11-22 06:00:00.000000

A report is stored once: an object key in the storage (S3_BUCKET), or, without a bucket, its bytes in
the row as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b2c4d6e8f10"
down_revision: str | Sequence[str] | None = "3d7e9a1c5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("report", sa.Column("key", sa.String(length=1024), nullable=True))
    op.alter_column("report", "content", existing_type=sa.LargeBinary(), nullable=True)
    op.create_check_constraint(op.f("ck_report_stored_once"), "report", "(key IS NULL) <> (content IS NULL)")


def downgrade() -> None:
    """Revert this revision (reports kept in the storage are dropped: their bytes are not here)."""
    report = sa.Table("report", sa.MetaData(), sa.Column("content", sa.LargeBinary()))
    op.execute(report.delete().where(report.c.content.is_(None)))
    op.drop_constraint(op.f("ck_report_stored_once"), "report", type_="check")
    op.alter_column("report", "content", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_column("report", "key")
