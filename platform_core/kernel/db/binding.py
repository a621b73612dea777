"""Tenancy bound in one place: how an engine, a session, a connection or a migration reaches a tenant schema.

Tenant tables are declared in the placeholder schema `__tenant__` (base.py). Binding gives SQLAlchemy a
`schema_translate_map` that renders the placeholder as a real schema (`t_<id>`) into each statement as
it is sent. Nothing is set on the database connection, so nothing outlives the statement: no leak to
the next borrower of a pooled connection, with or without PgBouncer in transaction mode, and one
compiled-cache entry serves every tenant (docs/architecture.md §4). A statement that still names the
placeholder was sent unbound and is refused before it reaches the database (dialect.py).

Every caller binds through this module:

- the API, workers, the CLI and the tests: `Database.session(schema)` / `sync_session(schema)`, sessions
  on engine copies made by `bind_engine` (engines.py);
- code that holds a bare connection, such as provisioning creating the tables: `bind_connection`,
  for one block;
- tenant migrations (the fleet runner, Alembic's env.py): `bind_migration`, for the migration's
  transaction, with `qualify` for the raw SQL a migration writes;
- a statement for another schema, `public` or another tenant's, from inside a session bound to a
  tenant: `in_schema`, the one named way out of a session's tenant.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from alembic.ddl.base import AlterTable
from sqlalchemy import Connection, Engine, Result, ScalarResult, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from platform_core.kernel.db.base import PUBLIC_SCHEMA, TENANT_SCHEMA
from platform_core.kernel.db.dialect import TenantNotBoundError

__all__ = [
    "PUBLIC_SCHEMA",
    "TENANT_SCHEMA",
    "AsyncSchemaConnection",
    "SchemaConnection",
    "TenantNotBoundError",
    "bind_connection",
    "bind_engine",
    "bind_migration",
    "bound_schema",
    "in_schema",
    "qualify",
    "translate_map",
]

E = TypeVar("E", Engine, AsyncEngine)
_OPTION = "schema_translate_map"


def translate_map(schema: str) -> dict[str | None, str]:
    """The schema_translate_map that renders tenant tables into `schema`."""
    return {TENANT_SCHEMA: schema}


def _tenant_options(schema: str) -> dict[str, Any]:
    """Execution options that bind tenant tables to `schema` (prefer the functions below)."""
    return {_OPTION: translate_map(schema)}


def bind_engine(engine: E, schema: str) -> E:
    """A copy of `engine`, sharing its pool, whose every statement renders tenant tables into `schema`."""
    return engine.execution_options(**_tenant_options(schema))


@contextmanager
def bind_connection(conn: Connection, schema: str | None) -> Iterator[Connection]:
    """Bind a connection to `schema` (None: to no tenant) for the block, then restore its binding.

    SQLAlchemy 2 sets execution options on a connection in place, not on a copy: a binding that outlived
    the block would bind every later statement of whoever owns the connection (a session's whole
    transaction), so it is undone on the way out, error or not.
    """
    previous = conn.get_execution_options().get(_OPTION)
    conn.execution_options(**{_OPTION: translate_map(schema) if schema else None})
    try:
        yield conn
    finally:
        conn.execution_options(**{_OPTION: previous})


# --- another schema from inside a session's transaction --------------------------------------------


def _options_for(schema: str) -> Mapping[str, Any]:
    # `public` tables name their schema themselves; reaching `public` binds no tenant, so a tenant table
    # in such a statement keeps its placeholder and is refused.
    return {_OPTION: {} if schema == PUBLIC_SCHEMA else translate_map(schema)}


class SchemaConnection:
    """Statements run in another schema on a session's connection, inside the session's transaction.

    Core execution, rows rather than ORM objects: an entity loaded from another schema would enter the
    session's identity map, whose keys have no schema, and could be returned later for a row of the
    session's own tenant.
    """

    __slots__ = ("_options", "_session", "schema")

    def __init__(self, session: Session, schema: str) -> None:
        self._session = session
        self._options = _options_for(schema)
        self.schema = schema

    def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Execute `statement` in this schema."""
        return self._session.connection().execute(statement, parameters, execution_options=self._options)

    def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        """The first column of the first row, or None."""
        return self.execute(statement, parameters).scalar()

    def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        """The first column of every row."""
        return self.execute(statement, parameters).scalars()


class AsyncSchemaConnection:
    """`SchemaConnection` for an AsyncSession."""

    __slots__ = ("_options", "_session", "schema")

    def __init__(self, session: AsyncSession, schema: str) -> None:
        self._session = session
        self._options = _options_for(schema)
        self.schema = schema

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Execute `statement` in this schema."""
        conn = await self._session.connection()
        return await conn.execute(statement, parameters, execution_options=self._options)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        """The first column of the first row, or None."""
        return (await self.execute(statement, parameters)).scalar()

    async def scalars(self, statement: Executable, parameters: Any = None) -> ScalarResult[Any]:
        """The first column of every row."""
        return (await self.execute(statement, parameters)).scalars()


@overload
def in_schema(session: AsyncSession, schema: str) -> AsyncSchemaConnection: ...
@overload
def in_schema(session: Session, schema: str) -> SchemaConnection: ...
def in_schema(session: Session | AsyncSession, schema: str) -> SchemaConnection | AsyncSchemaConnection:
    """Reach `schema` (`public`, or another tenant's `t_<id>`) from inside the session's transaction.

    The one way for code bound to a tenant to read or write outside it; the session itself stays bound
    to its tenant.
    """
    if isinstance(session, AsyncSession):
        return AsyncSchemaConnection(session, schema)
    return SchemaConnection(session, schema)


# --- migrations ------------------------------------------------------------------------------------


def _name_the_schema(
    conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> tuple[Any, Any, Any]:
    # Alembic prints the schema of its own ALTER TABLE statements (add_column, alter_column, drop_column,
    # rename_table) itself, outside SQLAlchemy's translation: give the ones naming none the bound schema.
    if isinstance(clauseelement, AlterTable) and clauseelement.schema is None:
        clauseelement.schema = bound_schema(conn)
    return clauseelement, multiparams, params


def bind_migration(conn: Connection, schema: str, *, reflect: bool = False) -> Connection:
    """Bind a migration's connection to a tenant schema for the rest of its transaction.

    Migration files name no schema. SQLAlchemy renders every table it builds (create_table,
    create_index, constraints, bulk_insert, Core statements) through the translate map, where `None`
    stands for "no schema named"; Alembic's own ALTER TABLE statements get the schema before they are
    compiled. Raw SQL is not translated: a migration names its objects with `qualify`, and the
    transaction's search_path is emptied, so an unqualified name is an error rather than an object in
    `public`.

    `reflect=True` is for comparing the schema with the models (autogenerate, tests): Alembic reflects
    "the tables named without a schema", which PostgreSQL defines by search_path, so for such a
    read-only comparison the transaction's search_path is the tenant's. Both settings are SET LOCAL:
    they end with the transaction.
    """
    if not conn.in_transaction():
        conn.begin()
    conn.execution_options(**{_OPTION: {None: schema, TENANT_SCHEMA: schema}})
    if not event.contains(conn, "before_execute", _name_the_schema):
        event.listen(conn, "before_execute", _name_the_schema, retval=True)
    path = conn.dialect.identifier_preparer.quote_schema(schema) if reflect else ""
    conn.execute(text("SELECT pg_catalog.set_config('search_path', :path, true)"), {"path": path})
    return conn


def bound_schema(conn: Connection) -> str:
    """The tenant schema a migration's connection is bound to (`bind_migration`)."""
    translate = conn.get_execution_options().get(_OPTION) or {}
    schema = translate.get(None)
    if not schema:
        raise TenantNotBoundError
    return str(schema)


def qualify(conn: Connection, name: str) -> str:
    """`name` in the migration connection's schema, quoted for raw SQL: `"t_<id>".audit_event`."""
    preparer = conn.dialect.identifier_preparer
    return f"{preparer.quote_schema(bound_schema(conn))}.{preparer.quote(name)}"
