"""HTTP routes: the tenant's members (listing needs members:read; changes need members:manage)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from platform_core.access.dependencies import MembersManage, MembersRead
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantDep, TenantSessionDep
from platform_core.members import service as member_service
from platform_core.members.exceptions import (
    CannotGrant,
    LastOwner,
    MemberNotFound,
    MemberOutranksYou,
    UnknownRole,
)
from platform_core.members.schemas import MemberPage, MemberRead, MemberUpdate, member_read

router = APIRouter(prefix="/api/v1/members", tags=["members"])


@router.get("", response_model=MemberPage)
async def list_members(
    principal: MembersRead,
    session: TenantSessionDep,
    paging: PageDep,
) -> MemberPage:
    """List the members, by email."""
    users, total = await member_service.list_members(session, paging)
    return MemberPage.of([member_read(u) for u in users], total, paging)


@router.get("/{member_id}", response_model=MemberRead)
@raises(MemberNotFound)
async def get_member(principal: MembersRead, member_id: uuid.UUID, session: TenantSessionDep) -> MemberRead:
    """Get one member."""
    return member_read(await member_service.get_member(session, member_id))


@router.patch("/{member_id}", response_model=MemberRead)
@raises(MemberNotFound, UnknownRole, MemberOutranksYou, CannotGrant, LastOwner)
async def update_member(
    principal: MembersManage, member_id: uuid.UUID, body: MemberUpdate, session: TenantSessionDep
) -> MemberRead:
    """Change a member's role (never to one granting more than you hold; the last owner stays owner)."""
    return member_read(await member_service.change_role(session, principal, member_id, body.role))


@router.delete("/{member_id}", status_code=204)
@raises(MemberNotFound, MemberOutranksYou, LastOwner)
async def remove_member(
    principal: MembersManage, member_id: uuid.UUID, tenant: TenantDep, session: TenantSessionDep
) -> Response:
    """Remove a member; their sessions and API keys stop working at once."""
    await member_service.remove(session, principal, member_id, tenant)
    return Response(status_code=204)
