"""How routes declare who may call them: one dependency per permission, or an explicit marker.

Every route of the app carries exactly one of these (a test walks the routes and fails otherwise):
`require(Permission.X)` for tenant data, `current_user` for a signed-in user's own account,
`public` for routes that need no credentials (sign-in, health), and the operator dependency for
the operator API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol

from fastapi import Depends, Request

from platform_core.access.permissions import Permission
from platform_core.access.principal import (
    InvalidApiKey,
    NotAuthenticated,
    Principal,
    PrincipalKind,
    authenticate,
)
from platform_core.kernel.context import TenantContext
from platform_core.kernel.errors import AppError, Forbidden, RateLimited, declared_errors, raises
from platform_core.kernel.security.tokens import InvalidToken
from platform_core.kernel.tenancy import HostKind, get_tenant, serves_on

GATE_ATTRIBUTE = "__platform_gate__"
PERMISSION_ATTRIBUTE = "__platform_permission__"


class AccessPolicy(Protocol):
    """What the tenant as a whole may do now (billing implements it): raises an AppError to refuse."""

    async def __call__(self, request: Request, tenant: TenantContext, permission: Permission) -> None:
        """Refuse `permission` for this request (its method, its tenant), or return."""
        ...

    async def api_rate_limit(self, request: Request, tenant: TenantContext) -> str | None:
        """The tenant's request rate for API keys (`limits` notation), or None for no limit."""
        ...

    def refusals(self, permission: Permission, method: str) -> tuple[type[AppError], ...]:
        """The errors `__call__` may raise for this permission and method (for the OpenAPI documents)."""
        ...


class ApiRateLimiter(Protocol):
    """Counts API-key requests against the tenant's plan rate (auth's Throttle implements it)."""

    async def api_request(self, *, tenant: str, limit: str) -> None:
        """Count one request; raise ApiRateLimited when the tenant is over `limit`."""
        ...


class ApiRateLimited(RateLimited):
    """The tenant's API keys exceeded the plan's request rate."""

    code = "api_rate_limited"


class PermissionDenied(Forbidden):
    """The caller lacks the permission a route requires."""

    code = "permission_denied"


class UserSessionRequired(Forbidden):
    """The route acts on a user's own account; an API key cannot use it."""

    code = "user_session_required"
    message = "This endpoint needs a signed-in user, not an API key."


# What authenticating a caller on a tenant host may answer (the tenant is resolved first).
_CREDENTIAL_ERRORS = (*declared_errors(get_tenant), NotAuthenticated, InvalidToken, InvalidApiKey)


def mark_gate(dependency: Callable[..., object], gate: str) -> None:
    """Tag a dependency as a gate so the route-walking test can recognise it."""
    setattr(dependency, GATE_ATTRIBUTE, gate)


def require(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates the caller and requires `permission` (403 otherwise)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if permission not in principal.permissions:
            raise PermissionDenied(
                f"This needs the `{permission.value}` permission.", details={"permission": permission.value}
            )
        policy: AccessPolicy | None = request.app.state.access_policy
        if policy is not None:
            tenant = await get_tenant(request)  # resolved by `authenticate`: no second lookup
            await policy(request, tenant, permission)
            if principal.kind is PrincipalKind.API_KEY and (
                limit := await policy.api_rate_limit(request, tenant)
            ):
                limiter: ApiRateLimiter = request.app.state.throttle
                await limiter.api_request(tenant=str(tenant.id), limit=limit)
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    mark_gate(dependency, f"permission:{permission.value}")
    setattr(dependency, PERMISSION_ATTRIBUTE, permission)
    raises(*_CREDENTIAL_ERRORS, PermissionDenied, ApiRateLimited)(dependency)
    return serves_on(HostKind.TENANT)(dependency)


def permission_of(dependency: object) -> Permission | None:
    """The permission a `require(...)` gate checks, if `dependency` is one."""
    return getattr(dependency, PERMISSION_ATTRIBUTE, None)


@serves_on(HostKind.TENANT)
@raises(*_CREDENTIAL_ERRORS, UserSessionRequired)
async def current_user(request: Request) -> Principal:
    """The signed-in user (not an API key): for routes on the caller's own account."""
    principal = await authenticate(request)
    if principal.kind is not PrincipalKind.USER:
        raise UserSessionRequired
    return principal


@serves_on(HostKind.TENANT)
@raises(*_CREDENTIAL_ERRORS)
async def authenticated(request: Request) -> Principal:
    """Any authenticated principal of the tenant (a signed-in user or an API key), whatever it holds:
    for routes whose answer is itself checked per use (a realtime ticket's channels, on each subscribe)."""
    return await authenticate(request)


async def public() -> None:
    """Mark a route as deliberately open: it needs no credentials."""


mark_gate(current_user, "user")
mark_gate(authenticated, "authenticated")
mark_gate(public, "public")

PUBLIC = Depends(public)
CurrentUser = Annotated[Principal, Depends(current_user)]
Authenticated = Annotated[Principal, Depends(authenticated)]
ItemsRead = Annotated[Principal, Depends(require(Permission.ITEMS_READ))]
ItemsWrite = Annotated[Principal, Depends(require(Permission.ITEMS_WRITE))]
UploadsRead = Annotated[Principal, Depends(require(Permission.UPLOADS_READ))]
UploadsWrite = Annotated[Principal, Depends(require(Permission.UPLOADS_WRITE))]
JobsRead = Annotated[Principal, Depends(require(Permission.JOBS_READ))]
ReportsRun = Annotated[Principal, Depends(require(Permission.REPORTS_RUN))]
MembersRead = Annotated[Principal, Depends(require(Permission.MEMBERS_READ))]
MembersManage = Annotated[Principal, Depends(require(Permission.MEMBERS_MANAGE))]
RolesManage = Annotated[Principal, Depends(require(Permission.ROLES_MANAGE))]
ApiKeysManage = Annotated[Principal, Depends(require(Permission.API_KEYS_MANAGE))]
AuditRead = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
ChatRead = Annotated[Principal, Depends(require(Permission.CHAT_READ))]
ChatWrite = Annotated[Principal, Depends(require(Permission.CHAT_WRITE))]
WebhooksManage = Annotated[Principal, Depends(require(Permission.WEBHOOKS_MANAGE))]
TenantSettingsManage = Annotated[Principal, Depends(require(Permission.TENANT_SETTINGS))]
BillingReadDep = Annotated[Principal, Depends(require(Permission.BILLING_READ))]
BillingManage = Annotated[Principal, Depends(require(Permission.BILLING_MANAGE))]
