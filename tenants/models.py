"""The tenant registry, in the public schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_core.kernel.context import TenantStatus, schema_name_for
from platform_core.kernel.db.base import IdMixin, PublicBase, TimestampMixin


class Tenant(IdMixin, TimestampMixin, PublicBase):
    """One customer organisation; its data lives in schema `t_<id hex>`."""

    __tablename__ = "tenant"
    __table_args__ = (
        # A purged tenant frees its slug; every other tenant keeps it unique.
        Index("uq_tenant_slug_live", "slug", unique=True, postgresql_where=text("status <> 'deleted'")),
        Index("ix_tenant_status", "status"),
    )

    slug: Mapped[str] = mapped_column(String(63), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=TenantStatus.ACTIVE.value)
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    owner_email: Mapped[str | None] = mapped_column(String(320))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purge_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schema_revision: Mapped[str | None] = mapped_column(String(64))
    migrated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    migration_duration_ms: Mapped[int | None] = mapped_column(Integer)
    migration_error: Mapped[str | None] = mapped_column(Text)

    domains: Mapped[list[TenantDomain]] = relationship(back_populates="tenant", lazy="raise")

    @property
    def schema_name(self) -> str:
        """The tenant's schema, derived from its immutable id."""
        return schema_name_for(self.id)


class TenantDomain(IdMixin, TimestampMixin, PublicBase):
    """A custom domain pointing at a tenant; it serves requests only once verified."""

    __tablename__ = "tenant_domain"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("public.tenant.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), nullable=False, unique=True)
    verification_token: Mapped[str] = mapped_column(String(64), nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tenant: Mapped[Tenant] = relationship(back_populates="domains", lazy="raise")


class PooledSchema(IdMixin, PublicBase):
    """A tenant schema built ahead of time (every table, no data), waiting for a signup to claim it.

    Its schema is `t_<id hex>`: the tenant that claims it takes this id, so nothing is renamed. The
    fleet migration keeps `revision` at the tenant head; a claim takes only a schema at the head.
    """

    __tablename__ = "tenant_schema_pool"
    __table_args__ = (Index("ix_tenant_schema_pool_revision", "revision", "created_at"),)

    revision: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), nullable=False
    )

    @property
    def schema_name(self) -> str:
        """The pooled schema."""
        return schema_name_for(self.id)
