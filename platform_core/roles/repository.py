"""Role queries in the request's tenant schema."""

from __future__ import annotations

import uuid

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import Invitation, Role, User
from platform_core.access.repository import open_invitation
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, get_by_id, remove


async def list_page(session: AsyncSession, *, paging: PageParams) -> tuple[list[Role], int]:
    """One page of roles, built-in first, then by name, and the total, in one round trip."""
    stmt = select(Role).order_by(Role.builtin.desc(), Role.name, Role.id)
    return await fetch_page(session, stmt, paging=paging)


async def get(session: AsyncSession, *, role_id: uuid.UUID, lock: bool = False) -> Role | None:
    """A role by id (locked, and read afresh, when asked)."""
    return await get_by_id(session, Role, role_id, lock=lock)


async def name_taken(session: AsyncSession, *, name: str, other_than: uuid.UUID | None = None) -> bool:
    """Whether a role other than `other_than` has this name."""
    stmt = select(Role.id).where(Role.name == name)
    if other_than is not None:
        stmt = stmt.where(Role.id != other_than)
    return (await session.execute(stmt)).first() is not None


async def delete_closed_invitations(session: AsyncSession, *, role_id: uuid.UUID) -> None:
    """Delete the accepted and revoked invitations of a role (their history is in the audit log)."""
    await session.execute(
        sql_delete(Invitation).where(
            Invitation.role_id == role_id,
            (Invitation.accepted_at.is_not(None)) | (Invitation.revoked_at.is_not(None)),
        )
    )


async def usage(session: AsyncSession, *, role_id: uuid.UUID) -> tuple[int, int]:
    """How many members, and how many open invitations, have the role."""
    members = select(func.count()).select_from(User).where(User.role_id == role_id).scalar_subquery()
    invitations = (
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.role_id == role_id, *open_invitation())
        .scalar_subquery()
    )
    row = (await session.execute(select(members, invitations))).one()
    return int(row[0]), int(row[1])


async def delete(session: AsyncSession, *, role: Role) -> None:
    """Delete a role now (a member or invitation that took it meanwhile fails its foreign key)."""
    await remove(session, role)
