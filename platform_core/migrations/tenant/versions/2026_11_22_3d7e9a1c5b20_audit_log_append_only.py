"""the audit log is append-only

Revision ID: 3d7e9a1c5b20
Revises: 99fb3afdefa5
Create Date: 2026-11-22 05:40:00.000000

Triggers refuse UPDATE, DELETE and TRUNCATE on audit_event. Provisioning installs the same through
platform_core/audit/guard.py (the statements are written out here so that this revision never changes).
Raw SQL is not translated to the tenant's schema like the tables SQLAlchemy renders: it names its
objects with `qualify`, in the schema the migration's connection is bound to.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from platform_core.kernel.db.binding import qualify

revision: str = "3d7e9a1c5b20"
down_revision: str | Sequence[str] | None = "99fb3afdefa5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    table, function = qualify(op.get_bind(), "audit_event"), qualify(op.get_bind(), "audit_event_append_only")
    op.execute(
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege'; "
        "END $$"
    )
    op.execute(
        f"CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
    op.execute(
        f"CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
    )


def downgrade() -> None:
    """Revert this revision."""
    table, function = qualify(op.get_bind(), "audit_event"), qualify(op.get_bind(), "audit_event_append_only")
    op.execute(f"DROP TRIGGER audit_event_no_truncate ON {table}")
    op.execute(f"DROP TRIGGER audit_event_no_change ON {table}")
    op.execute(f"DROP FUNCTION {function}()")
