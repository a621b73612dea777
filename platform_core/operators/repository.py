"""All queries of the operator domain: operator accounts, the tenant registry as operators page it, and
the entries operators write into a tenant's tables.

Operator accounts are read with async sessions by the API and with sync sessions by the CLI; both run
the same statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Insert, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.binding import in_schema
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page
from platform_core.operators.models import Operator
from tenants.models import Tenant


def _by_email(email: str) -> Select[Operator]:
    return select(Operator).where(Operator.email == email)


async def get_by_email(session: AsyncSession, email: str) -> Operator | None:
    """The operator with this (normalised) email, active or not."""
    return (await session.execute(_by_email(email))).scalar_one_or_none()


async def get_active(session: AsyncSession, operator_id: uuid.UUID) -> Operator | None:
    """The operator with this id if it is active."""
    stmt = select(Operator).where(Operator.id == operator_id, Operator.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


def find_by_email(session: Session, email: str, *, lock: bool = False) -> Operator | None:
    """The operator with this (normalised) email, for the CLI."""
    stmt = _by_email(email)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def list_operators(session: Session) -> Sequence[Operator]:
    """Every operator, by email, for the CLI."""
    return session.execute(select(Operator).order_by(Operator.email)).scalars().all()


async def list_tenants_page(
    session: AsyncSession, *, status: TenantStatus | None, paging: PageParams
) -> tuple[Sequence[Tenant], int]:
    """One page of tenants by slug (optionally of one status), and the total, in one round trip."""
    stmt = select(Tenant).order_by(Tenant.slug, Tenant.created_at)
    if status is not None:
        stmt = stmt.where(Tenant.status == status.value)
    return await fetch_page(session, stmt, paging=paging)


async def get_live_tenant(session: AsyncSession, slug: str) -> Tenant | None:
    """The tenant with this slug that is not purged."""
    stmt = select(Tenant).where(Tenant.slug == slug, Tenant.status != TenantStatus.DELETED.value)
    return (await session.execute(stmt)).scalar_one_or_none()


def insert_in_tenant(session: Session, *, schema: str, statement: Insert) -> None:
    """Run an INSERT into a tenant table of `schema` on the platform session (an audit entry)."""
    in_schema(session, schema).execute(statement)
