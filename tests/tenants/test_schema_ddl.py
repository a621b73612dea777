"""The tenant DDL rendered once per process builds the same schema as the tenant history from base."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, pool, text

from platform_core.access.permissions import BUILTIN_ROLES
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import tenant_metadata
from platform_core.kernel.db.binding import bind_migration
from tenants import schema_ddl
from tenants.fleet import TenantRef, migrate_tenant, unqualified_tenant_metadata

# Everything PostgreSQL knows about a schema's objects, each rendered by the server itself (but the
# column order: a column added by a later revision comes last in a migrated table, not in a new one).
_CATALOG = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = CAST(:s AS regnamespace) AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind = 'r'""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = CAST(:s AS regnamespace)""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = CAST(:s AS regnamespace) AND NOT t.tgisinternal""",
    "functions": """
        SELECT proname, pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE pronamespace = CAST(:s AS regnamespace)""",
    "sequences": "SELECT sequencename, data_type::text FROM pg_sequences WHERE schemaname = :s",
    "version": "SELECT version_num FROM {schema}.alembic_version",
    # The rows every schema starts with (INITIAL_ROWS): the built-in roles, as the history inserts them.
    "roles": "SELECT id, name, description, permissions, builtin FROM {schema}.role",
}


# Known drift, older than the rendered DDL (create_all built the same): the tenant history created
# tenant_settings.id as SERIAL, while the model's `default=1` makes create_all leave it a plain integer.
# A schema migrated from base has a sequence that is never used (the id is always 1, checked).
KNOWN_DRIFT = {  # what a migrated schema has -> what a new one has instead (None: nothing)
    (
        "columns",
        ("tenant_settings", "id", "integer", "True", "nextval('S.tenant_settings_id_seq'::regclass)"),
    ): (
        "tenant_settings",
        "id",
        "integer",
        "True",
        "None",
    ),
    ("sequences", ("tenant_settings_id_seq", "integer")): None,
}


def _catalog(conn: Connection, schema: str) -> dict[str, list[tuple[str, ...]]]:
    """The schema's catalog with its own name taken out, so two schemas compare."""
    described = {}
    for kind, sql in _CATALOG.items():
        rows = conn.execute(text(sql.format(schema=schema)), {"s": schema}).all()
        described[kind] = sorted(tuple(str(v).replace(schema, "S") for v in row) for row in rows)
    return described


@pytest.fixture
def engine(settings):
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    schemas: list[str] = []
    yield engine, schemas
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def test_a_rendered_schema_equals_one_migrated_from_base(settings, engine):
    engine, schemas = engine
    migrated, rendered = f"t_{uuid.uuid4().hex}", f"t_{uuid.uuid4().hex}"
    schemas += [migrated, rendered]
    head = head_revision(settings.migrations_dir, "tenant")
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{migrated}"'))
    result = migrate_tenant(engine, settings.migrations_dir, TenantRef(uuid.uuid4(), "base", migrated))
    assert result.error is None
    with engine.begin() as conn:
        script = script_directory(settings.migrations_dir, "tenant")
        schema_ddl.create_schema(conn, metadata=tenant_metadata(), script=script, head=head, schema=rendered)
    with engine.connect() as conn:
        from_base, from_ddl = _catalog(conn, migrated), _catalog(conn, rendered)
    assert from_ddl["version"] == [(head,)]
    assert len(from_ddl["columns"]) > 100
    assert len(from_ddl["indexes"]) > 20
    assert from_ddl["triggers"]
    assert sorted(row[1] for row in from_ddl["roles"]) == sorted(BUILTIN_ROLES)
    for (kind, row), instead in KNOWN_DRIFT.items():
        from_base[kind].remove(row)
        from_base[kind] = sorted([*from_base[kind], *([instead] if instead else [])])
    for kind in _CATALOG:
        assert from_ddl[kind] == from_base[kind], kind
    with engine.begin() as conn:  # and the models see nothing to migrate in it
        bind_migration(conn, rendered, reflect=True)
        context = MigrationContext.configure(conn, opts={"include_object": _not_version_table})
        assert compare_metadata(context, unqualified_tenant_metadata()) == []


def _not_version_table(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name == "alembic_version")


def test_the_ddl_is_rendered_once_and_names_only_the_given_schema(settings):
    script = script_directory(settings.migrations_dir, "tenant")
    head = head_revision(settings.migrations_dir, "tenant")
    one, two = (schema_ddl.schema_ddl(tenant_metadata(), script, head, f"t_{c * 32}") for c in "ab")
    assert one.replace("a" * 32, "b" * 32) == two
    assert "__tenant__" not in one
    assert one.count("CREATE TABLE") == len(tenant_metadata().tables) + 1  # and alembic_version


@pytest.mark.parametrize("schema", ["public", 't_x"; DROP TABLE tenant; --', "T_" + "0" * 32])
def test_only_a_tenant_schema_name_is_put_into_the_ddl(settings, schema):
    script = script_directory(settings.migrations_dir, "tenant")
    head = head_revision(settings.migrations_dir, "tenant")
    with pytest.raises(ValueError, match="not a tenant schema name"):
        schema_ddl.schema_ddl(tenant_metadata(), script, head, schema)
