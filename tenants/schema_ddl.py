"""The DDL of a whole tenant schema, rendered once per process and sent as one statement batch.

`create_all` compiles every CREATE TABLE and CREATE INDEX again for each tenant and sends each on its
own round trip (about fifty for the full tenant schema), and the Alembic stamp configures a migration
context each time. Here the same statements (`create_all` against a mock engine, so after-create events
such as the audit log's append-only trigger are included) and the same stamp (Alembic in offline mode)
are rendered once, for the placeholder schema; a tenant's DDL is that text with its schema name put in,
sent in one round trip on the caller's connection, so it stays in the caller's transaction. The rows a
table names as every schema's start (`INITIAL_ROWS` in its `info`: the built-in roles) are inserted in
the same batch, so a pooled schema holds them before it is claimed and the claim writes only what
belongs to its tenant.

tests/tenants/test_schema_ddl.py proves that a schema built this way equals one migrated from base.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, create_mock_engine, insert
from sqlalchemy.sql.base import Executable

from platform_core.kernel.db.base import INITIAL_ROWS, TENANT_SCHEMA

_QUOTED = f'"{TENANT_SCHEMA}"'
_DIALECT_URL = "postgresql+psycopg://"
_SCHEMA = re.compile(r"^t_[0-9a-f]{32}$")


def _render_tables(metadata: MetaData) -> list[str]:
    """Every statement `create_all(checkfirst=False)` sends for `metadata`, for the placeholder schema."""
    statements: list[Executable] = []
    engine = create_mock_engine(_DIALECT_URL, lambda sql, *_, **__: statements.append(sql))
    metadata.create_all(engine, checkfirst=False)
    return [str(s.compile(dialect=engine.dialect)).strip() for s in statements]  # type: ignore[attr-defined]


def _render_initial_rows(metadata: MetaData) -> list[str]:
    """The INSERT of each table's initial rows (`INITIAL_ROWS` in its info), values inlined."""
    engine = create_mock_engine(_DIALECT_URL, lambda *_, **__: None)
    statements = []
    for table in metadata.sorted_tables:  # a table's rows after those of the tables it refers to
        rows = table.info.get(INITIAL_ROWS)
        if rows is not None:
            stmt = insert(table).values(rows())
            inlined = stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            statements.append(str(inlined))
    return statements


def _render_stamp(script: ScriptDirectory) -> list[str]:
    """The statements of `alembic stamp heads` into an empty placeholder schema (offline mode)."""
    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "version_table_schema": TENANT_SCHEMA},
    )
    context._ensure_version_table()  # offline, stamp assumes the table exists; online it creates it
    context.stamp(script, "heads")
    return [s.strip() for s in buffer.getvalue().split(";\n") if s.strip()]


@lru_cache(maxsize=8)
def _template(metadata: MetaData, script: ScriptDirectory, head: str) -> str:
    # `head` is part of the key: a revision added to the same directory (tests do) renders a new stamp.
    statements = [
        f"CREATE SCHEMA {TENANT_SCHEMA}",
        *_render_tables(metadata),
        *_render_initial_rows(metadata),
        *_render_stamp(script),
    ]
    if not any(head in s for s in statements):
        raise RuntimeError(f"the rendered stamp does not record the tenant head {head}")
    return ";\n".join(statements) + ";"


def schema_ddl(metadata: MetaData, script: ScriptDirectory, head: str, schema: str) -> str:
    """The SQL that creates `schema` with every table of `metadata` and their initial rows, stamped at `head`.

    `schema` must be a checked tenant schema name (t_<32 hex>): it is put into the text as is.
    """
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    template = _template(metadata, script, head)
    return template.replace(_QUOTED, schema).replace(TENANT_SCHEMA, schema)


def create_schema(
    conn: Connection, *, metadata: MetaData, script: ScriptDirectory, head: str, schema: str
) -> None:
    """Create a stamped tenant schema with its initial rows in one round trip, in the caller's transaction."""
    conn.exec_driver_sql(schema_ddl(metadata, script, head, schema))
