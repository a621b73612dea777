"""the audit log is append-only

Revision ID: 3d7e9a1c5b20
Revises: 99fb3afdefa5
Create Date: 2026-11-22 05:40:00.000000

Triggers refuse UPDATE, DELETE and TRUNCATE on audit_event. Provisioning installs the same through
platform_core/audit/guard.py (the statements are written out here so that this revision never changes).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "3d7e9a1c5b20"
down_revision: str | Sequence[str] | None = "99fb3afdefa5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (search_path is the tenant's schema)."""
    op.execute(
        "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege'; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event")
    op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
    op.execute("DROP FUNCTION audit_event_append_only()")
