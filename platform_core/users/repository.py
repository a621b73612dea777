"""User and role queries in the request's tenant schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from platform_core.access.models import Invitation, Role, User
from platform_core.access.permissions import builtin_role_id
from platform_core.access.repository import open_invitation
from platform_core.kernel.db.constraints import violated_constraint
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import advisory_xact_lock, fetch_page, remove, write

EMAIL_CONSTRAINT = "uq_user_account_email"


async def lock_membership(session: AsyncSession, *, tenant_id: uuid.UUID) -> None:
    """One membership change at a time per tenant, until the transaction ends: two owners demoting
    each other cannot deadlock, and seat and owner counts cannot change under a check."""
    await advisory_xact_lock(session, key=f"members:{tenant_id}")


def normalize_email(email: str) -> str:
    """Emails are compared and stored lower-cased and trimmed."""
    return email.strip().lower()


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    """The user with this email, with their role."""
    stmt = select(User).options(joinedload(User.role)).where(User.email == normalize_email(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, *, user_id: uuid.UUID, lock: bool = False) -> User | None:
    """The user with this id, with their role."""
    stmt = select(User).options(joinedload(User.role)).where(User.id == user_id)
    if lock:
        stmt = stmt.with_for_update(of=User)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_page(session: AsyncSession, *, paging: PageParams) -> tuple[Sequence[User], int]:
    """One page of members by email, and the total, in one round trip."""
    stmt = select(User).options(joinedload(User.role)).order_by(User.email)
    return await fetch_page(session, stmt, paging=paging)


async def list_page_with_open_invitations(
    session: AsyncSession, *, paging: PageParams
) -> tuple[Sequence[User], int, int]:
    """One page of members by email, the total, and how many invitations are open, in one round trip
    (the console's members page shows all three)."""
    pending = select(func.count()).select_from(Invitation).where(*open_invitation()).scalar_subquery()
    stmt = (
        select(User)
        .options(joinedload(User.role))
        .order_by(User.email)
        .add_columns(pending.label("open_invitations"), func.count().over().label("total"))
    )
    rows = (await session.execute(stmt.offset(paging.offset).limit(paging.limit))).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][2]), int(rows[0][1])
    users, total = await list_page(session, paging=paging)  # a page past the end: the plain queries
    open_count = await session.execute(select(func.count()).select_from(Invitation).where(*open_invitation()))
    return users, total, int(open_count.scalar_one())


async def count_owners(session: AsyncSession, *, lock: bool = False) -> int:
    """How many active owners the tenant has (locking their rows when asked, to serialise changes)."""
    owner = builtin_role_id("owner")
    if lock:
        ids = (
            await session.execute(
                select(User.id).where(User.role_id == owner, User.is_active.is_(True)).with_for_update()
            )
        ).all()
        return len(ids)
    stmt = select(func.count()).select_from(User).where(User.role_id == owner, User.is_active.is_(True))
    return int((await session.execute(stmt)).scalar_one())


async def get_role_by_name(session: AsyncSession, *, name: str) -> Role | None:
    """A role by its (unique) name."""
    return (await session.execute(select(Role).where(Role.name == name))).scalar_one_or_none()


async def add_unless_email_taken(session: AsyncSession, *, user: User) -> bool:
    """Insert a new user now; False (and nothing inserted) when the address got an account meanwhile."""
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        if violated_constraint(exc) != EMAIL_CONSTRAINT:
            raise
        return False
    return True


async def save_with_role(session: AsyncSession, *, user: User) -> User:
    """Write a user's pending changes now and load their (possibly new) role."""
    return await write(session, user, reload=["role"])


async def delete(session: AsyncSession, *, user: User) -> None:
    """Delete a user now: their sessions, link tokens and API keys go with them (ON DELETE CASCADE)."""
    await remove(session, user)
