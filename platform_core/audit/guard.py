"""The audit log is append-only, and the database enforces it: triggers refuse UPDATE, DELETE and TRUNCATE.

`install_append_only` is an `after_create` DDL event of the audit table (platform_core/audit/models.py):
whoever creates the table from the metadata (provisioning's `create_all`) installs the triggers with it,
in the same transaction, without knowing about the audit log. The tenant migration 3d7e9a1c5b20
installs the same for schemas built by migrations. Dropping a purged tenant's schema is unaffected.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, text

FUNCTION = "audit_event_append_only"
ROW_TRIGGER = "audit_event_no_change"
TRUNCATE_TRIGGER = "audit_event_no_truncate"
MESSAGE = "the audit log is append-only"


def append_only_statements(schema: str | None) -> list[str]:
    """The DDL that makes `schema`.audit_event append-only (unqualified when schema is None)."""
    qualified = f'"{schema}".' if schema else ""
    return [
        f"CREATE FUNCTION {qualified}{FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$",
        f"CREATE TRIGGER {ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {qualified}audit_event "
        f"FOR EACH ROW EXECUTE FUNCTION {qualified}{FUNCTION}()",
        f"CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {qualified}audit_event "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {qualified}{FUNCTION}()",
    ]


def install_append_only(target: Table, connection: Connection, **_: Any) -> None:
    """Install the triggers on the audit table just created (its schema as the connection renders it)."""
    # The table is declared in the tenant placeholder schema; the connection that creates it maps the
    # placeholder to the real schema (schema_translate_map), which raw DDL must name itself.
    for statement in append_only_statements(connection.schema_for_object(target)):
        connection.execute(text(statement))
