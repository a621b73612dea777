"""Members: change a role, remove someone, leave. The last owner stays; nobody grants beyond their own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from billing import seats as billing_seats
from platform_core.access.cache import auth_changed
from platform_core.access.models import Role, User
from platform_core.access.permissions import Permission, builtin_role_id, role_permissions
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel import events
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.paging import PageParams
from platform_core.members.exceptions import (
    CannotGrant,
    LastOwner,
    MemberNotFound,
    MemberOutranksYou,
    UnknownRole,
)
from platform_core.users import repository as user_repository

OWNER_ROLE_ID = builtin_role_id("owner")
ROLE_CONSTRAINT = "fk_user_account_role_id_role"


def grants(role: Role) -> frozenset[Permission]:
    """What a role row grants."""
    return role_permissions(role.name, role.builtin, role.permissions)


def check_can_grant(principal: Principal, wanted: frozenset[Permission]) -> None:
    """Refuse handing out any permission the caller does not hold, naming the missing ones."""
    missing = wanted - principal.permissions
    if missing:
        raise CannotGrant(details={"missing_permissions": sorted(p.value for p in missing)})


async def list_members(session: AsyncSession, paging: PageParams) -> tuple[Sequence[User], int]:
    """One page of members and the total."""
    return await user_repository.list_page(session, paging=paging)


async def list_members_and_open_invitations(
    session: AsyncSession, paging: PageParams
) -> tuple[Sequence[User], int, int]:
    """One page of members, the total, and how many invitations are open (one round trip)."""
    return await user_repository.list_page_with_open_invitations(session, paging=paging)


async def get_member(session: AsyncSession, member_id: uuid.UUID, *, lock: bool = False) -> User:
    """A member of this tenant; 404 otherwise."""
    user = await user_repository.get(session, user_id=member_id, lock=lock)
    if user is None:
        raise MemberNotFound
    return user


async def _keep_an_owner(session: AsyncSession, member: User) -> None:
    if member.role_id == OWNER_ROLE_ID and await user_repository.count_owners(session, lock=True) <= 1:
        raise LastOwner


async def change_role(
    session: AsyncSession, principal: Principal, member_id: uuid.UUID, role_name: str
) -> User:
    """Give a member another role, within what the caller may grant."""
    await user_repository.lock_membership(session, tenant_id=principal.tenant_id)
    member = await get_member(session, member_id, lock=True)
    role = await user_repository.get_role_by_name(session, name=role_name.strip())
    if role is None:
        raise UnknownRole(details={"role": role_name})
    if not grants(member.role) <= principal.permissions:
        raise MemberOutranksYou
    check_can_grant(principal, grants(role))
    if role.id == member.role_id:
        return member
    if role.id != OWNER_ROLE_ID:
        await _keep_an_owner(session, member)
    previous = member.role.name
    member.role_id = role.id
    await auth_changed(session, principal.tenant_id)
    # The role was deleted after it was read: as if it had never existed.
    with constraint_errors({ROLE_CONSTRAINT: lambda: UnknownRole(details={"role": role_name})}):
        await user_repository.save_with_role(session, user=member)
    await audit.record(
        session,
        AuditAction.MEMBER_ROLE_CHANGED,
        principal.actor,
        target_type="user",
        target_id=member.id,
        details={"email": member.email, "from": previous, "to": role.name},
    )
    await events.record(
        session,
        "member.role_changed",
        events.MemberData(user_id=member.id, email=member.email, role=role.name),
        tenant_id=principal.tenant_id,
    )
    return member


async def remove(
    session: AsyncSession, principal: Principal, member_id: uuid.UUID, tenant: TenantContext
) -> None:
    """Remove a member: their sessions and API keys end with the account."""
    await user_repository.lock_membership(session, tenant_id=principal.tenant_id)
    member = await get_member(session, member_id, lock=True)
    if member.id != principal.user_id and not grants(member.role) <= principal.permissions:
        raise MemberOutranksYou
    await _keep_an_owner(session, member)
    email, role = member.email, member.role.name
    await auth_changed(session, principal.tenant_id)
    await user_repository.delete(session, user=member)
    await billing_seats.members_changed(session, tenant)
    action = AuditAction.MEMBER_LEFT if member_id == principal.user_id else AuditAction.MEMBER_REMOVED
    await audit.record(
        session,
        action,
        principal.actor,
        target_type="user",
        target_id=member_id,
        details={"email": email, "role": role},
    )
    await events.record(
        session,
        "member.removed",
        events.MemberData(user_id=member_id, email=email, role=role),
        tenant_id=principal.tenant_id,
    )
