"""The database refuses to change or remove audit entries, in provisioned and in migrated schemas."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, func, insert, pool, select, text, update
from sqlalchemy.exc import DBAPIError

from platform_core.audit.guard import MESSAGE, ROW_TRIGGER, TRUNCATE_TRIGGER
from platform_core.audit.models import AuditEvent
from platform_core.kernel.db.binding import bind_connection
from tenants.fleet import TenantRef, migrate_tenant

CHANGES = [
    lambda schema: update(AuditEvent).values(action="tampered"),
    lambda schema: delete(AuditEvent),
    lambda schema: text(f'TRUNCATE "{schema}".audit_event'),
]


def _entry() -> Any:
    return insert(AuditEvent).values(id=uuid.uuid4(), action="auth.sign_in", actor_type="system", details={})


def _check(engine, schema: str) -> None:
    with engine.begin() as conn, bind_connection(conn, schema):
        conn.execute(_entry())
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal"
        triggers = set(conn.scalars(text(query), {"table": f'"{schema}".audit_event'}))
    assert triggers == {ROW_TRIGGER, TRUNCATE_TRIGGER}
    for change in CHANGES:
        with (
            engine.begin() as conn,
            bind_connection(conn, schema),
            pytest.raises(DBAPIError, match=MESSAGE),
        ):
            conn.execute(change(schema))
    with engine.begin() as conn, bind_connection(conn, schema):
        signed_in = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.sign_in")
        assert conn.scalar(signed_in) >= 1


def test_a_provisioned_tenant_cannot_change_its_audit_log(settings, tenant_service):
    tenant = tenant_service.create(slug=f"audit-{uuid.uuid4().hex[:8]}", name="Audit")
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    try:
        _check(engine, tenant.schema_name)
    finally:
        engine.dispose()


def test_a_migrated_tenant_cannot_change_its_audit_log(settings):
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    schema = f"t_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        migrated = migrate_tenant(engine, settings.migrations_dir, TenantRef(uuid.uuid4(), "m", schema))
        assert migrated.error is None
        _check(engine, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
