"""Invitation queries in the request's tenant schema (seats are counted by access.repository.seats_used)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from platform_core.access.models import Invitation
from platform_core.access.repository import open_invitation
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page


async def get(
    session: AsyncSession, *, invitation_id: uuid.UUID, lock: bool = False, reload: bool = False
) -> Invitation | None:
    """An invitation by id, with its role (`reload` refreshes an instance already in the session)."""
    stmt = select(Invitation).options(joinedload(Invitation.role)).where(Invitation.id == invitation_id)
    if lock:
        stmt = stmt.with_for_update(of=Invitation)
    if reload:
        stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_open_for_email(session: AsyncSession, *, email: str) -> Invitation | None:
    """The open (not accepted, not revoked) invitation of an address, locked."""
    stmt = select(Invitation).where(Invitation.email == email, *open_invitation()).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_token_hash(session: AsyncSession, *, token_hash: str) -> Invitation | None:
    """An invitation by the hash of its token, locked, with its role."""
    stmt = (
        select(Invitation)
        .options(joinedload(Invitation.role))
        .where(Invitation.token_hash == token_hash)
        .with_for_update(of=Invitation)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_page(
    session: AsyncSession, *, open_only: bool, paging: PageParams
) -> tuple[Sequence[Invitation], int]:
    """One page of invitations, newest first, and the total."""
    conditions = open_invitation() if open_only else []
    stmt = (
        select(Invitation)
        .options(joinedload(Invitation.role))
        .where(*conditions)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    return await fetch_page(session, stmt, paging=paging)
