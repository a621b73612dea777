"""The database refuses to change or remove audit entries, in provisioned and in migrated schemas."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import DBAPIError

from platform_core.audit.guard import MESSAGE, ROW_TRIGGER, TRUNCATE_TRIGGER
from tenants.fleet import TenantRef, migrate_tenant

ENTRY = (
    "INSERT INTO audit_event (id, occurred_at, action, actor_type, details) "
    "VALUES (:id, now(), 'auth.sign_in', 'system', '{}')"
)
CHANGES = [
    "UPDATE audit_event SET action = 'tampered'",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
]


def _check(engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        conn.execute(text(ENTRY), {"id": uuid.uuid4()})
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal"
        triggers = set(conn.scalars(text(query)))
    assert triggers == {ROW_TRIGGER, TRUNCATE_TRIGGER}
    for change in CHANGES:
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            with pytest.raises(DBAPIError, match=MESSAGE):
                conn.execute(text(change))
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        assert conn.scalar(text("SELECT count(*) FROM audit_event WHERE action = 'auth.sign_in'")) >= 1


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
