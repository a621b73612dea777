"""Declarative bases: one for the shared `public` schema, one for tables in every tenant schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Tenant tables are declared in this placeholder schema. A session bound to a tenant translates it to
# `t_<id>` (schema_translate_map); a statement that still names it was sent with no tenant bound and is
# refused before it reaches the database (see platform_core/kernel/db/dialect.py).
TENANT_SCHEMA = "__tenant__"
PUBLIC_SCHEMA = "public"

# A tenant table may name the rows every new tenant schema starts with: `info={INITIAL_ROWS: f}` in its
# table arguments, `f()` returning them as column -> value dicts of literal values (the built-in roles).
# The schema DDL (tenants/schema_ddl.py) inserts them, so a schema built new, pooled or cold, holds them
# as one migrated from base does.
INITIAL_ROWS = "initial_rows"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class PublicBase(DeclarativeBase):
    """Tables shared by the whole platform, in `public`."""

    metadata = MetaData(schema=PUBLIC_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Tables that exist once per tenant schema."""

    metadata = MetaData(schema=TENANT_SCHEMA, naming_convention=NAMING_CONVENTION)


# Set by the assembly's model registry (platform_core/app/models.py) once it has imported every model.
_models_registry: str | None = None


def mark_models_registered(registry: str) -> None:
    """Record that the module `registry` imported every model, so the metadata collections are complete."""
    global _models_registry
    _models_registry = registry


def models_registry() -> str | None:
    """The module that registered every model (a process started afresh imports it by this name)."""
    return _models_registry


def tenant_metadata() -> MetaData:
    """Every tenant table, for provisioning and export; refused until the model registry is loaded.

    A schema built from a metadata missing a model would lack that table for good (it is stamped at
    the tenant head), so this refuses rather than return whatever happens to be imported.
    """
    if _models_registry is None:
        raise RuntimeError(
            "the tenant metadata is incomplete: import platform_core.app.models (the model registry) "
            "before provisioning or exporting a tenant"
        )
    return TenantBase.metadata


def utcnow() -> datetime:
    """Current time, timezone-aware (UTC)."""
    from datetime import UTC

    return datetime.now(UTC)


class IdMixin:
    """A UUID primary key, generated client-side so it is known before flush."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    """`created_at` and `updated_at`, maintained by the database and the ORM."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
