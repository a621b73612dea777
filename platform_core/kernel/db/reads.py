"""Lean reads: one SELECT, compiled once, run on a pooled connection in autocommit, rows as tuples.

The hottest list routes do not need an ORM session: they read one statement and serialise its rows.
A session costs more CPU than the query (measured in bench/peer_django_tenants.py: the session's
open, connection, commit and close, the ORM objects and their validation); so does a transaction,
whose BEGIN and COMMIT are two more round trips for a single statement that is its own snapshot.
Here a repository builds a Core SELECT once per *shape* (its filters and order, never its values:
those are bind parameters), `compiled_read` compiles it once per process with the tenant placeholder
left as a token, and each request renders the token into its tenant's schema with SQLAlchemy's own
schema translation, then executes the SQL on the psycopg connection of a connection from the pool
that serves the tenant (`Database.pooled_connection`: its slice's, affinity.py), in autocommit,
restoring the connection before it goes back.

What stays true: SQL lives in repositories (they build the statements); every statement is bound to
exactly one tenant, and one that is not (no schema given, or a token left) is refused before it is
sent, as the dialect refuses unbound ORM statements; nothing outlives the read on the pooled
connection (autocommit is switched back off, and a connection that cannot be restored is discarded).
Rows come back as the driver makes them (uuid.UUID, datetime, list, str): use it for columns whose
driver value is the API value, not for types SQLAlchemy converts on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.kernel.db.base import TENANT_SCHEMA
from platform_core.kernel.db.binding import translate_map
from platform_core.kernel.db.dialect import TenantNotBoundError, refuse_unbound
from platform_core.kernel.db.engines import Database

_TOKEN = "__[SCHEMA_"  # noqa: S105 (how SQLAlchemy leaves a schema to translate at execution)


@dataclass(frozen=True, slots=True)
class CompiledRead:
    """A SELECT compiled once: its SQL with the tenant schema as a token, and its column names."""

    sql: str
    columns: tuple[str, ...]
    dialect: Dialect
    defaults: Mapping[str, Any]  # the values the statement itself holds (constants, not the caller's)

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The statement's own values overlaid with the caller's."""
        return {**self.defaults, **params}

    def render(self, schema: str) -> str:
        """The SQL with tenant tables in `schema`; refused if anything is left unbound."""
        if not schema or schema == TENANT_SCHEMA:
            raise TenantNotBoundError
        sql: str = self.dialect.identifier_preparer._render_schema_translates(self.sql, translate_map(schema))
        if _TOKEN in sql:
            raise TenantNotBoundError
        refuse_unbound(sql)
        return sql


_COMPILED: dict[tuple[str, Hashable], CompiledRead] = {}


def compiled_read(dialect: Dialect, shape: Hashable, build: Callable[[], Select[Any]]) -> CompiledRead:
    """The compiled form of the statement `build()` makes for `shape` (built and compiled once).

    `shape` must name everything that changes the SQL text (filters present, order); values are
    bind parameters, passed to `fetch_rows` by name.
    """
    key = (dialect.name, shape)
    compiled = _COMPILED.get(key)
    if compiled is None:
        stmt = build()
        compiled_stmt = stmt.compile(dialect=dialect, schema_translate_map={TENANT_SCHEMA: TENANT_SCHEMA})
        defaults = {name: value for name, value in compiled_stmt.params.items() if value is not None}
        columns = tuple(stmt.selected_columns.keys())
        compiled = CompiledRead(str(compiled_stmt), columns, dialect, defaults)
        if len(_COMPILED) > 1_000:  # shapes are few; this bounds a caller that makes them from values
            _COMPILED.clear()
        _COMPILED[key] = compiled
    return compiled


async def fetch_rows(
    db: Database, schema: str, read: CompiledRead, params: Mapping[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """Run `read` in `schema` with `params`, in autocommit, on a pooled connection of `schema`'s pool.

    A read that fails or is cancelled discards its connection (`Database.pooled_connection`).
    """
    sql = read.render(schema)
    async with db.pooled_connection(schema) as pooled:
        conn = cast("psycopg.AsyncConnection[Any]", pooled.driver_connection)
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        if idle:  # (a test's engine hands out one connection, inside the test's transaction)
            await conn.set_autocommit(True)
        rows = await _execute(conn, sql, read.parameters(params))
        if idle:
            await conn.set_autocommit(False)
        return rows


async def fetch_rows_in(
    session: AsyncSession, schema: str, read: CompiledRead, params: Mapping[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """Run `read` in `schema` on the session's connection, inside its transaction."""
    sql = read.render(schema)
    connection = await session.connection()
    pooled = await connection.get_raw_connection()
    return await _execute(pooled.driver_connection, sql, read.parameters(params))


async def _execute(conn: Any, sql: str, params: Mapping[str, Any]) -> Sequence[tuple[Any, ...]]:
    try:
        cursor = await conn.execute(sql, params)
        rows: Sequence[tuple[Any, ...]] = await cursor.fetchall()
    except psycopg.Error as exc:  # as SQLAlchemy raises it: an outage answers 503 (error_handlers.py)
        raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
    return rows
