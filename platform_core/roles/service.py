"""Custom roles: any subset of permissions, never more than their author holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.cache import PRINCIPALS, auth_changed
from platform_core.access.models import Role
from platform_core.access.permissions import BUILTIN_ROLES, Permission, parse_permissions
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.paging import PageParams
from platform_core.members.service import check_can_grant, grants
from platform_core.roles import repository as role_repository
from platform_core.roles.exceptions import (
    BuiltinRoleReadOnly,
    RoleInUse,
    RoleNameTaken,
    RoleNotFound,
    UnknownPermission,
)
from platform_core.roles.schemas import RoleCreate, RoleUpdate

# Violations a concurrent request can cause after the checks above passed.
NAME_CONSTRAINT = "uq_role_name"
IN_USE_CONSTRAINTS = ("fk_user_account_role_id_role", "fk_invitation_role_id_role")


def permissions_from(names: list[str]) -> frozenset[Permission]:
    """Parse permission names; 422 naming the first unknown one."""
    try:
        return parse_permissions(names)
    except ValueError as exc:
        raise UnknownPermission(str(exc).capitalize() + ".", details={"known": sorted(Permission)}) from exc


def _names(permissions: frozenset[Permission]) -> list[str]:
    return sorted(p.value for p in permissions)


async def list_roles(session: AsyncSession, paging: PageParams) -> tuple[list[Role], int]:
    """One page of the tenant's roles and the total."""
    return await role_repository.list_page(session, paging=paging)


@dataclass(frozen=True, slots=True)
class RoleChoice:
    """A role as a picker offers it: its name and what it grants."""

    name: str
    permissions: frozenset[Permission]


async def role_choices(session: AsyncSession, tenant_id: uuid.UUID) -> list[RoleChoice]:
    """Every role of the tenant (built-in first) with what it grants, for role pickers.

    Cached per process with the principals: every change of a role (created, edited, deleted) calls
    `auth_changed`, which drops the tenant's entries in every process.
    """
    key = ("role_choices", tenant_id)
    cached: list[RoleChoice] | None = PRINCIPALS.get(key)
    if cached is None:
        generation = PRINCIPALS.generation(tenant_id)
        roles, _ = await list_roles(session, PageParams(page=1, page_size=100))
        cached = [RoleChoice(role.name, grants(role)) for role in roles]
        PRINCIPALS.put(tenant_id, key, cached, generation)
    return cached


async def get_role(session: AsyncSession, role_id: uuid.UUID, *, lock: bool = False) -> Role:
    """A role of this tenant; 404 otherwise."""
    role = await role_repository.get(session, role_id=role_id, lock=lock)
    if role is None:
        raise RoleNotFound
    return role


async def _check_name(session: AsyncSession, name: str, other_than: uuid.UUID | None = None) -> None:
    if name in BUILTIN_ROLES or await role_repository.name_taken(session, name=name, other_than=other_than):
        raise RoleNameTaken(details={"name": name})


async def create_role(session: AsyncSession, principal: Principal, body: RoleCreate) -> Role:
    """Create a custom role with permissions the caller holds."""
    wanted = permissions_from(body.permissions)
    check_can_grant(principal, wanted)
    await _check_name(session, body.name)
    role = Role(
        name=body.name, description=body.description.strip(), permissions=sorted(wanted), builtin=False
    )
    session.add(role)
    with constraint_errors({NAME_CONSTRAINT: lambda: RoleNameTaken(details={"name": body.name})}):
        await session.flush()
    await auth_changed(session, principal.tenant_id)  # the cached role choices gain it
    await audit.record(
        session,
        AuditAction.ROLE_CREATED,
        principal.actor,
        target_type="role",
        target_id=role.id,
        details={"name": role.name, "permissions": role.permissions},
    )
    return role


async def update_role(
    session: AsyncSession, principal: Principal, role_id: uuid.UUID, body: RoleUpdate
) -> Role:
    """Change a custom role; the caller must hold what it grants before and after."""
    role = await get_role(session, role_id, lock=True)
    if role.builtin:
        raise BuiltinRoleReadOnly
    check_can_grant(principal, grants(role))
    changes: dict[str, object] = {}
    if body.permissions is not None:
        wanted = permissions_from(body.permissions)
        check_can_grant(principal, wanted)
        if _names(wanted) != sorted(role.permissions):
            changes["permissions"] = {"from": sorted(role.permissions), "to": _names(wanted)}
            role.permissions = _names(wanted)
    if body.name is not None and body.name != role.name:
        await _check_name(session, body.name, other_than=role.id)
        changes["name"] = {"from": role.name, "to": body.name}
        role.name = body.name
    if body.description is not None and body.description.strip() != role.description:
        role.description = body.description.strip()
        changes["description"] = True
    if changes:
        await auth_changed(session, principal.tenant_id)
        with constraint_errors({NAME_CONSTRAINT: lambda: RoleNameTaken(details={"name": body.name})}):
            await session.flush()
        await audit.record(
            session,
            AuditAction.ROLE_UPDATED,
            principal.actor,
            target_type="role",
            target_id=role.id,
            details=changes,
        )
    return role


async def delete_role(session: AsyncSession, principal: Principal, role_id: uuid.UUID) -> None:
    """Delete a custom role nobody has (members or open invitations)."""
    role = await get_role(session, role_id, lock=True)
    if role.builtin:
        raise BuiltinRoleReadOnly
    check_can_grant(principal, grants(role))
    members, invitations = await role_repository.usage(session, role_id=role.id)
    if members or invitations:
        raise RoleInUse(details={"members": members, "open_invitations": invitations})
    name = role.name
    await auth_changed(session, principal.tenant_id)
    await role_repository.delete_closed_invitations(session, role_id=role.id)
    with constraint_errors(dict.fromkeys(IN_USE_CONSTRAINTS, RoleInUse)):
        await role_repository.delete(session, role=role)
    await audit.record(
        session,
        AuditAction.ROLE_DELETED,
        principal.actor,
        target_type="role",
        target_id=role_id,
        details={"name": name},
    )
