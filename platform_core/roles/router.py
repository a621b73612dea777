"""HTTP routes: built-in and custom roles, and the permission catalogue."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from platform_core.access.dependencies import MembersRead, RolesManage
from platform_core.access.permissions import Permission
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.members.exceptions import CannotGrant
from platform_core.roles import service as role_service
from platform_core.roles.exceptions import (
    BuiltinRoleReadOnly,
    RoleInUse,
    RoleNameTaken,
    RoleNotFound,
    UnknownPermission,
)
from platform_core.roles.schemas import PermissionRead, RoleCreate, RolePage, RoleRead, RoleUpdate, role_read

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


@router.get("/permissions", response_model=list[PermissionRead])
async def list_permissions(principal: MembersRead) -> list[PermissionRead]:
    """List every permission a role can grant."""
    return [PermissionRead(name=p.value) for p in Permission]


@router.get("", response_model=RolePage)
async def list_roles(principal: MembersRead, session: TenantSessionDep, paging: PageDep) -> RolePage:
    """List the roles: the four built-in ones, then custom roles by name."""
    roles, total = await role_service.list_roles(session, paging)
    return RolePage.of([role_read(r) for r in roles], total, paging)


@router.post("", status_code=201, response_model=RoleRead)
@raises(RoleNameTaken, UnknownPermission, CannotGrant)
async def create_role(principal: RolesManage, body: RoleCreate, session: TenantSessionDep) -> RoleRead:
    """Create a custom role with permissions you hold."""
    return role_read(await role_service.create_role(session, principal, body))


@router.get("/{role_id}", response_model=RoleRead)
@raises(RoleNotFound)
async def get_role(principal: MembersRead, role_id: uuid.UUID, session: TenantSessionDep) -> RoleRead:
    """Get one role."""
    return role_read(await role_service.get_role(session, role_id))


@router.patch("/{role_id}", response_model=RoleRead)
@raises(RoleNotFound, BuiltinRoleReadOnly, RoleNameTaken, UnknownPermission, CannotGrant)
async def update_role(
    principal: RolesManage, role_id: uuid.UUID, body: RoleUpdate, session: TenantSessionDep
) -> RoleRead:
    """Change a custom role (members holding it get the change at their next request)."""
    return role_read(await role_service.update_role(session, principal, role_id, body))


@router.delete("/{role_id}", status_code=204)
@raises(RoleNotFound, BuiltinRoleReadOnly, RoleInUse)
async def delete_role(principal: RolesManage, role_id: uuid.UUID, session: TenantSessionDep) -> Response:
    """Delete a custom role that no member or open invitation has."""
    await role_service.delete_role(session, principal, role_id)
    return Response(status_code=204)
