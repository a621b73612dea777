"""Replace a pooled connection once it has served too many distinct tenant schemas.

A backend's catalog caches grow with every schema it touches and are not pruned, so a long-lived
connection that meets many tenants ends up holding all their catalogs. Each connection of an engine
counts the schemas its sessions were bound to (in its pool record's `info`, which lives as long as
the database connection); at the limit it is soft-invalidated: the current session finishes on it,
and the pool opens a fresh backend in its place at the next checkout.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import PoolProxiedConnection

from platform_core.kernel.db.base import TENANT_SCHEMA

__all__ = ["RECYCLED", "SCHEMAS_SEEN", "note_schema", "recycle_after_schemas", "schemas_seen"]

SCHEMAS_SEEN = "platform.schemas_seen"  # key in a pool record's info: the set of schemas served
RECYCLED = Counter(
    "platform_db_connections_recycled",
    "Pooled connections replaced after serving DB_RECYCLE_AFTER_SCHEMAS distinct tenant schemas",
)


def _bound_schema(conn: Connection) -> str | None:
    translate = conn.get_execution_options().get("schema_translate_map")
    return translate.get(TENANT_SCHEMA) if translate else None


def schemas_seen(conn: Connection) -> frozenset[str]:
    """The tenant schemas the database connection under `conn` has served so far."""
    return frozenset(conn.connection.info.get(SCHEMAS_SEEN, ()))


def recycle_after_schemas(engine: Engine, limit: int) -> None:
    """Count the schemas each connection of `engine` serves; replace it after `limit` (0: never)."""
    if limit <= 0:
        return

    def count(conn: Connection) -> None:
        schema = _bound_schema(conn)
        if schema is not None:
            note_schema(conn.connection.info, schema, limit, conn.connection)

    event.listen(engine, "engine_connect", count)


def note_schema(info: dict[Any, Any], schema: str, limit: int, proxied: PoolProxiedConnection) -> None:
    """Count `schema` as served by the pooled connection `proxied` (whose record's `info` this is);
    at `limit` distinct schemas (0: never), soft-invalidate it: replaced at its next checkout."""
    if limit <= 0:
        return
    seen: set[str] = info.setdefault(SCHEMAS_SEEN, set())
    if schema in seen:
        return
    seen.add(schema)
    if len(seen) >= limit:
        proxied.invalidate(soft=True)  # closed and reopened at its next checkout
        RECYCLED.inc()
