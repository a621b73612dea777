"""The upload migration on a tenant created before it: the table appears, built-in roles read uploads."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, pool, text

from tenants.fleet import TenantRef, migrate_tenant

PREVIOUS = "005b4b2dbb15"


def test_an_older_tenant_gets_the_table_and_its_builtin_roles_read_uploads(settings):
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    schema = f"t_{uuid.uuid4().hex}"
    tenant = TenantRef(uuid.uuid4(), "older", schema)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        older = migrate_tenant(engine, settings.migrations_dir, tenant, target=PREVIOUS)
        assert (older.error, older.to_revision) == (None, PREVIOUS)  # a tenant from before uploads
        with engine.begin() as conn:  # its built-in roles as they were seeded then
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            conn.execute(text("UPDATE role SET permissions = array_remove(permissions, 'uploads:read')"))
            conn.execute(
                text("UPDATE role SET description = 'Reads items, members and jobs.' WHERE name = 'viewer'")
            )
        result = migrate_tenant(engine, settings.migrations_dir, tenant)
        assert (result.error, result.from_revision) == (None, PREVIOUS)
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            roles = dict(conn.execute(text("SELECT name, permissions FROM role WHERE builtin")).all())
            viewer = conn.scalar(text("SELECT description FROM role WHERE name = 'viewer'"))
            assert conn.scalar(text("SELECT count(*) FROM upload")) == 0
        assert {name for name, permissions in roles.items() if "uploads:read" in permissions} == {
            "owner",
            "admin",
            "member",
            "viewer",
        }
        assert viewer == "Reads items, uploads, members and jobs."
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
