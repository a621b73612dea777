"""The kernel's view of tenancy: how a request gets its tenant and its tenant-bound session.

The tenants package implements host resolution; the app factory stores its resolver on
`app.state.tenant_resolver`, so the kernel depends on the protocol here and never imports tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from platform_core.kernel.context import TenantContext, TenantStatus, tenant_id_var, tenant_slug_var
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.reads import CompiledRead, compiled_read, fetch_rows, fetch_rows_in
from platform_core.kernel.db.unit_of_work import SCOPE_KEY, open_request_session
from platform_core.kernel.errors import AppError, Forbidden, Gone, NotFound, raises

T = TypeVar("T")
HOST_ATTRIBUTE = "__platform_host__"


class HostKind(StrEnum):
    """Which hosts serve a route: a tenant's, the operator host, or the platform's (apex, reserved)."""

    TENANT = "tenant"
    OPERATOR = "operator"
    PLATFORM = "platform"


def serves_on(kind: HostKind) -> Callable[[T], T]:
    """Mark a dependency as confining its routes to one kind of host (each host documents its own)."""

    def mark(target: T) -> T:
        setattr(target, HOST_ATTRIBUTE, kind)
        return target

    return mark


def host_kind_of(target: object) -> HostKind | None:
    """The kind of host a dependency confines its routes to, if any."""
    return getattr(target, HOST_ATTRIBUTE, None)


@dataclass(frozen=True, slots=True)
class HostResolution:
    """What a Host header names: a tenant, or the platform itself (apex or a reserved subdomain)."""

    tenant: TenantContext | None
    platform_name: str | None = None


class TenantResolver(Protocol):
    """Maps a Host header to a HostResolution; raises an AppError for bad or unknown hosts."""

    async def resolve(self, host: str | None) -> HostResolution:
        """Resolve a Host header."""
        ...


class TenantSuspended(Forbidden):
    """The tenant is suspended."""

    code = "tenant_suspended"


class TenantDeleted(Gone):
    """The tenant is scheduled for deletion."""

    code = "tenant_deleted"
    message = "This workspace has been deleted."


class NoTenantAtHost(NotFound):
    """The host serves no tenant."""

    code = "tenant_not_found"
    message = "No workspace exists at this address."


def check_tenant_access(tenant: TenantContext) -> None:
    """Refuse requests to tenants that are not active."""
    if tenant.status is TenantStatus.ACTIVE:
        return
    if tenant.status is TenantStatus.SUSPENDED:
        reason = tenant.suspended_reason or "no reason given"
        raise TenantSuspended(f"This workspace is suspended: {reason}.", details={"reason": reason})
    if tenant.status is TenantStatus.DELETING:
        raise TenantDeleted
    raise NoTenantAtHost


async def resolve_host(request: Request) -> HostResolution:
    """Resolve the request's Host header with the app's resolver."""
    resolver: TenantResolver = request.app.state.tenant_resolver
    return await resolver.resolve(request.headers.get("host"))


async def _tenant_of(request: Request) -> TenantContext:
    cached: TenantContext | None = request.scope.get("platform.tenant")
    if cached is not None:
        return cached
    resolution = await resolve_host(request)
    if resolution.tenant is None:
        raise NoTenantAtHost
    tenant = resolution.tenant
    request.scope["platform.tenant"] = tenant  # TenantDep and the session dependency share it
    tenant_slug_var.set(tenant.slug)
    tenant_id_var.set(str(tenant.id))
    return tenant


@serves_on(HostKind.TENANT)
@raises(NoTenantAtHost, TenantSuspended, TenantDeleted)
async def get_tenant(request: Request) -> TenantContext:
    """The active tenant serving this request's host (404 unknown, 403 suspended, 410 deleted)."""
    tenant = await _tenant_of(request)
    check_tenant_access(tenant)
    return tenant


@serves_on(HostKind.TENANT)
@raises(NoTenantAtHost)
async def get_tenant_any_status(request: Request) -> TenantContext:
    """The tenant at this host whatever its status (for billing and sign-in pages)."""
    tenant = await _tenant_of(request)
    if tenant.status in (TenantStatus.DELETED, TenantStatus.PROVISIONING):
        raise NoTenantAtHost
    return tenant


@serves_on(HostKind.PLATFORM)
@raises(NotFound)
async def require_platform_host(request: Request) -> str:
    """Allow a route only on the apex or a reserved host; return which."""
    resolution = await resolve_host(request)
    if resolution.platform_name is None:
        raise NotFound("No route matches this path.")
    return resolution.platform_name


TenantDep = Annotated[TenantContext, Depends(get_tenant)]
AnyStatusTenantDep = Annotated[TenantContext, Depends(get_tenant_any_status)]
PlatformHostDep = Annotated[str, Depends(require_platform_host)]


@serves_on(HostKind.TENANT)
@raises(NoTenantAtHost, TenantSuspended, TenantDeleted)
async def get_tenant_session(request: Request) -> AsyncSession:
    """The request's session, bound to its tenant; UnitOfWorkMiddleware commits it before responding.

    It resolves the tenant itself rather than through sub-dependencies: every dependency FastAPI
    solves costs CPU on the hottest path (measured in bench/tenancy_overhead.py).
    """
    tenant = await get_tenant(request)
    db: Database = request.app.state.db
    return await open_request_session(request.scope, db.session(tenant.schema_name))


async def get_public_session(request: Request) -> AsyncSession:
    """The request's session on the public schema only; committed like the tenant session."""
    db: Database = request.app.state.db
    return await open_request_session(request.scope, db.session(None))


@dataclass(frozen=True, slots=True)
class TenantReader:
    """One tenant's tables read one statement at a time, outside the unit of work (kernel/db/reads.py).

    For read-only routes on the hottest paths. When the request's session already holds a
    connection (its transaction began), reads run on it, so a request never holds two connections.
    """

    db: Database
    schema: str
    scope: Scope

    def compiled(self, shape: Hashable, build: Callable[[], Select[Any]]) -> CompiledRead:
        """The statement of `shape`, compiled once per process (see `compiled_read`)."""
        return compiled_read(self.db.async_engine.dialect, shape, build)

    async def rows(self, read: CompiledRead, params: Mapping[str, Any]) -> Sequence[tuple[Any, ...]]:
        """The rows of `read` with `params`, in this tenant's schema."""
        entry: tuple[object, AsyncSession] | None = self.scope.get(SCOPE_KEY)
        if entry is not None and entry[1].in_transaction():
            return await fetch_rows_in(entry[1], self.schema, read, params)
        return await fetch_rows(self.db, self.schema, read, params)


@serves_on(HostKind.TENANT)
@raises(NoTenantAtHost, TenantSuspended, TenantDeleted)
async def get_tenant_reader(request: Request) -> TenantReader:
    """The request's tenant, for lean reads outside the unit of work."""
    tenant = await get_tenant(request)
    db: Database = request.app.state.db
    return TenantReader(db, tenant.schema_name, request.scope)


# One session per request (see platform_core/kernel/db/unit_of_work.py for when it commits).
TenantSessionDep = Annotated[AsyncSession, Depends(get_tenant_session)]
PublicSessionDep = Annotated[AsyncSession, Depends(get_public_session)]
TenantReaderDep = Annotated[TenantReader, Depends(get_tenant_reader)]

__all__ = ["AppError", "HostResolution", "TenantDep", "TenantResolver", "TenantSessionDep"]
