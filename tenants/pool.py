"""The warm pool: tenant schemas built ahead of time, so a signup only claims one and seeds it.

A pooled schema is a complete tenant schema (every table, stamped, no data) named `t_<id hex>` and
listed in `public.tenant_schema_pool` with its revision. Provisioning claims the oldest one at the
tenant head (`SELECT ... FOR UPDATE SKIP LOCKED`, then DELETE, in the caller's transaction) and gives
the new tenant that id, so its schema name is the one derived from its id and nothing is renamed. If
the caller's transaction rolls back, the row is back and the schema stays pooled; concurrent claims
skip each other's locked rows, so two never get the same schema. An empty pool is no error: the caller
builds the schema cold.

`top_up`, run by the beat task `tenants.top_up_schema_pool`, builds schemas until the pool holds the
configured size at the head. The fleet migration (tenants/fleet.py) migrates pooled schemas behind
the head like tenant schemas, under the same row lock a claim takes, so a schema is never claimed
half-migrated; one whose migration fails is dropped (it holds no data) and top-up builds another.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from platform_core.kernel.context import schema_name_for
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import tenant_metadata
from platform_core.kernel.settings import Settings
from tenants import schema_ddl
from tenants.models import PooledSchema

TOP_UP_LOCK_KEY = 0x5EED_9001  # pg advisory lock: one top-up at a time


@dataclass(frozen=True)
class PoolStatus:
    """How many pooled schemas wait at the tenant head, and how many at an older revision."""

    head: str
    ready: int
    behind: int


def claim(session: Session, *, head: str) -> uuid.UUID | None:
    """Take the oldest pooled schema at `head` in the session's transaction; None when there is none.

    The row is deleted (and stays locked) until the transaction ends: on rollback it is pooled again.
    """
    oldest = (
        select(PooledSchema.id)
        .where(PooledSchema.revision == head)
        .order_by(PooledSchema.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = delete(PooledSchema).where(PooledSchema.id == oldest).returning(PooledSchema.id)
    return session.execute(stmt).scalar()


def build_one(conn: Connection, settings: Settings) -> uuid.UUID:
    """Build one pooled schema at the tenant head and list it, in the connection's transaction."""
    head = head_revision(settings.migrations_dir, "tenant")
    pooled_id = uuid.uuid4()
    conn.execute(insert(PooledSchema).values(id=pooled_id, revision=head))
    schema_ddl.create_schema(
        conn,
        metadata=tenant_metadata(),
        script=script_directory(settings.migrations_dir, "tenant"),
        head=head,
        schema=schema_name_for(pooled_id),
    )
    return pooled_id


def status(conn: Connection, settings: Settings) -> PoolStatus:
    """The pool's size at the tenant head and behind it."""
    head = head_revision(settings.migrations_dir, "tenant")
    at_head = func.count().filter(PooledSchema.revision == head)
    rows = conn.execute(select(at_head, func.count()).select_from(PooledSchema)).one()
    return PoolStatus(head=head, ready=int(rows[0]), behind=int(rows[1]) - int(rows[0]))


def top_up(engine: Engine, settings: Settings, *, size: int) -> int:
    """Build schemas until `size` wait at the tenant head; each one committed on its own. Returns how
    many were built (0 when another top-up is running: they would both build the missing ones)."""
    built = 0
    with engine.connect() as lock_conn:
        if not lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": TOP_UP_LOCK_KEY}).scalar():
            lock_conn.commit()
            return 0
        lock_conn.commit()
        try:
            missing = size - status(lock_conn, settings).ready
            lock_conn.commit()
            for _ in range(missing):
                with engine.begin() as conn:
                    build_one(conn, settings)
                built += 1
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": TOP_UP_LOCK_KEY})
            lock_conn.commit()
    return built


def drain(conn: Connection) -> int:
    """Drop every pooled schema that no transaction holds, in the connection's transaction."""
    ids = conn.scalars(select(PooledSchema.id).with_for_update(skip_locked=True)).all()
    for pooled_id in ids:
        drop(conn, pooled_id)
    return len(ids)


def drop_unclaimed(conn: Connection, pooled_id: uuid.UUID) -> bool:
    """Drop a pooled schema unless a claim holds it or took it; in the connection's transaction."""
    if not lock_unclaimed(conn, pooled_id):
        return False
    drop(conn, pooled_id)
    return True


def drop(conn: Connection, pooled_id: uuid.UUID) -> None:
    """Unlist a pooled schema (its row locked by the caller) and drop it: it holds no data."""
    conn.execute(delete(PooledSchema).where(PooledSchema.id == pooled_id))
    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_name_for(pooled_id)}" CASCADE'))


# --- for the fleet migration ---------------------------------------------------------------------------


def behind_head(conn: Connection, head: str) -> Sequence[uuid.UUID]:
    """Pooled schemas whose recorded revision is not `head`, oldest first."""
    stmt = select(PooledSchema.id).where(PooledSchema.revision != head).order_by(PooledSchema.created_at)
    return conn.scalars(stmt).all()


def lock_unclaimed(conn: Connection, pooled_id: uuid.UUID) -> bool:
    """Lock a pooled schema's row for the transaction, as a claim does; False if it is claimed or gone."""
    stmt = select(PooledSchema.id).where(PooledSchema.id == pooled_id).with_for_update(skip_locked=True)
    return conn.execute(stmt).first() is not None


def record_revision(conn: Connection, pooled_id: uuid.UUID, revision: str | None) -> None:
    """Record the revision a pooled schema was migrated to."""
    conn.execute(update(PooledSchema).where(PooledSchema.id == pooled_id).values(revision=revision))
