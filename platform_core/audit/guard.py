"""The audit log is append-only, and the database enforces it: triggers refuse UPDATE, DELETE and TRUNCATE.

Provisioning installs them with `install_append_only` after building a schema from the metadata; the
tenant migration 3d7e9a1c5b20 installs the same for schemas built by migrations. Dropping a purged
tenant's schema is unaffected.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

FUNCTION = "audit_event_append_only"
ROW_TRIGGER = "audit_event_no_change"
TRUNCATE_TRIGGER = "audit_event_no_truncate"
MESSAGE = "the audit log is append-only"


def append_only_statements(schema: str) -> list[str]:
    """The DDL that makes `schema`.audit_event append-only."""
    qualified = f'"{schema}"'
    return [
        f"CREATE FUNCTION {qualified}.{FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$",
        f"CREATE TRIGGER {ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {qualified}.audit_event "
        f"FOR EACH ROW EXECUTE FUNCTION {qualified}.{FUNCTION}()",
        f"CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {qualified}.audit_event "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {qualified}.{FUNCTION}()",
    ]


def install_append_only(conn: Connection, schema: str) -> None:
    """Install the triggers in a tenant schema just built from the metadata."""
    for statement in append_only_statements(schema):
        conn.execute(text(statement))
