"""All queries of the operator domain: operator accounts, the tenant registry as operators page it, and
the entries operators write into a tenant's tables.

Operator accounts are read with async sessions by the API and with sync sessions by the CLI; both run
the same statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.access.actor import Actor, ActorType
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.binding import in_schema
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page
from platform_core.operators.models import Operator, OperatorAction, TenantExport
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
    session: AsyncSession, *, status: TenantStatus | None, paging: PageParams, search: str | None = None
) -> tuple[Sequence[Tenant], int]:
    """One page of tenants by slug (optionally of one status, and whose slug, name or owner's email
    contains `search`), and the total, in one round trip."""
    stmt = select(Tenant).order_by(Tenant.slug, Tenant.created_at)
    if status is not None:
        stmt = stmt.where(Tenant.status == status.value)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Tenant.slug.ilike(pattern, escape="\\"),
                Tenant.name.ilike(pattern, escape="\\"),
                Tenant.owner_email.ilike(pattern, escape="\\"),
            )
        )
    return await fetch_page(session, stmt, paging=paging)


async def bump_session_generation(session: AsyncSession, operator_id: uuid.UUID) -> None:
    """End every operator console session of this operator (they carry an older generation)."""
    stmt = (
        update(Operator)
        .where(Operator.id == operator_id)
        .values(session_generation=Operator.session_generation + 1)
    )
    await session.execute(stmt)


def add_action(
    session: Session,
    by: Actor,
    *,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an operator action in the platform's log (in the caller's transaction)."""
    session.add(
        OperatorAction(
            occurred_at=utcnow(),  # the moment itself (several actions may share one transaction)
            operator_id=by.id if by.type is ActorType.OPERATOR else None,
            actor_label=by.label,
            ip=by.ip,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )


async def list_actions_page(
    session: AsyncSession, *, paging: PageParams, target_id: str | None = None
) -> tuple[Sequence[OperatorAction], int]:
    """One page of operator actions, newest first (optionally those on one target)."""
    stmt = select(OperatorAction).order_by(OperatorAction.occurred_at.desc(), OperatorAction.id)
    if target_id is not None:
        stmt = stmt.where(OperatorAction.target_id == target_id)
    return await fetch_page(session, stmt, paging=paging)


async def count_tenants_by_status(session: AsyncSession) -> dict[str, int]:
    """How many tenants are in each status."""
    rows = await session.execute(select(Tenant.status, func.count()).group_by(Tenant.status))
    return {status: count for status, count in rows.all()}


async def get_live_tenant(session: AsyncSession, slug: str) -> Tenant | None:
    """The tenant with this slug that is not purged."""
    stmt = select(Tenant).where(Tenant.slug == slug, Tenant.status != TenantStatus.DELETED.value)
    return (await session.execute(stmt)).scalar_one_or_none()


def insert_in_tenant(session: Session, *, schema: str, statement: Insert) -> None:
    """Run an INSERT into a tenant table of `schema` on the platform session (an audit entry)."""
    in_schema(session, schema).execute(statement)


async def list_exports(
    session: AsyncSession, tenant_id: uuid.UUID, *, limit: int = 20
) -> Sequence[TenantExport]:
    """A tenant's latest exports, newest first."""
    stmt = (
        select(TenantExport)
        .where(TenantExport.tenant_id == tenant_id)
        .order_by(TenantExport.requested_at.desc(), TenantExport.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def get_export(
    session: AsyncSession, tenant_id: uuid.UUID, export_id: uuid.UUID
) -> TenantExport | None:
    """One export of this tenant."""
    stmt = select(TenantExport).where(TenantExport.id == export_id, TenantExport.tenant_id == tenant_id)
    return (await session.scalars(stmt)).one_or_none()


def lock_export(session: Session, export_id: uuid.UUID) -> TenantExport | None:
    """An export, locked for the worker that builds it."""
    return session.get(TenantExport, export_id, with_for_update=True)


async def tenant_slugs(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The slug of each of these tenants that is not purged."""
    if not tenant_ids:
        return {}
    stmt = select(Tenant.id, Tenant.slug).where(
        Tenant.id.in_(tenant_ids), Tenant.status != TenantStatus.DELETED.value
    )
    return {row.id: row.slug for row in (await session.execute(stmt)).all()}
