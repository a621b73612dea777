"""The upload migration on a tenant created before it: the table appears, built-in roles read uploads."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, func, pool, select, text, update

from platform_core.access.models import Role
from platform_core.kernel.db.binding import bind_connection
from platform_core.uploads.models import Upload
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
        with engine.begin() as conn, bind_connection(conn, schema):  # its built-in roles as seeded then
            conn.execute(update(Role).values(permissions=func.array_remove(Role.permissions, "uploads:read")))
            conn.execute(
                update(Role).where(Role.name == "viewer").values(description="Reads items, members and jobs.")
            )
        result = migrate_tenant(engine, settings.migrations_dir, tenant)
        assert (result.error, result.from_revision) == (None, PREVIOUS)
        with engine.begin() as conn, bind_connection(conn, schema):
            roles = dict(conn.execute(select(Role.name, Role.permissions).where(Role.builtin)).all())
            viewer = conn.scalar(select(Role.description).where(Role.name == "viewer"))
            assert conn.scalar(select(func.count()).select_from(Upload)) == 0
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
