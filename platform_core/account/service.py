"""The caller's own account: read it, change the profile, leave the workspace. Never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import User
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel.context import TenantContext
from platform_core.members import service as member_service


async def get_account(session: AsyncSession, principal: Principal) -> User:
    """The signed-in user, with their role."""
    return await member_service.get_member(session, principal.user_id)


async def update_profile(session: AsyncSession, principal: Principal, *, full_name: str | None) -> User:
    """Change the caller's name (audited when it changes); None leaves it as it is."""
    user = await member_service.get_member(session, principal.user_id, lock=True)
    if full_name is not None and full_name.strip() != user.full_name:
        user.full_name = full_name.strip()
        await audit.record(
            session, AuditAction.PROFILE_UPDATED, principal.actor, target_type="user", target_id=user.id
        )
    await session.flush()
    return user


async def leave(session: AsyncSession, principal: Principal, tenant: TenantContext) -> None:
    """Leave the workspace: the account is deleted (the last owner cannot leave)."""
    await member_service.remove(session, principal, principal.user_id, tenant)
