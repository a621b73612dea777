"""HTTP routes: The operator API, served only on the reserved admin host."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from billing import service as billing_service
from billing.schemas import OperatorBillingRead, ReplayRead, WaitingEventPage
from platform_core.access.dependencies import PUBLIC
from platform_core.auth.dependencies import SIGN_IN_BODY, SignInCredentials
from platform_core.auth.throttle import TooManyAttempts
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.security.passwords import InvalidPassword
from platform_core.kernel.tenancy import PublicSessionDep
from platform_core.members.owner import OwnerExists
from platform_core.operators import service as operator_service
from platform_core.operators.dependencies import (
    CurrentOperator,
    OperatorHost,
    OperatorScopeDep,
    OperatorTenant,
    TenantSlug,
    json_body,
    tenant_session,
)
from platform_core.operators.exceptions import ExportNotFound, OperatorInvalidCredentials
from platform_core.operators.models import Operator
from platform_core.operators.schemas import (
    AddOwnerRequest,
    EventStatus,
    ExportList,
    ExportRead,
    ExportRequest,
    FleetStatusRead,
    OperatorActionPage,
    OperatorRead,
    OperatorTokenResponse,
    OwnerAddedRead,
    ReplayRequest,
    SuspendRequest,
    TenantMemberPage,
    TenantPage,
    TenantRead,
)
from platform_core.uploads.exceptions import StorageUnavailable
from tenants.exceptions import InvalidTenantState
from tenants.models import Tenant

router = APIRouter(prefix="/api/v1/operator", tags=["operators"], dependencies=[OperatorHost])

SuspendBody = Annotated[SuspendRequest, Depends(json_body(SuspendRequest))]
AddOwnerBody = Annotated[AddOwnerRequest, Depends(json_body(AddOwnerRequest))]
ReplayBody = Annotated[ReplayRequest, Depends(json_body(ReplayRequest))]
ExportBody = Annotated[ExportRequest, Depends(json_body(ExportRequest))]


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI text for a JSON body that a dependency reads."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


@router.post(
    "/auth/token", response_model=OperatorTokenResponse, dependencies=[PUBLIC], openapi_extra=SIGN_IN_BODY
)
@raises(OperatorInvalidCredentials, TooManyAttempts)
async def issue_operator_token(
    credentials: SignInCredentials, scope: OperatorScopeDep, session: PublicSessionDep
) -> OperatorTokenResponse:
    """Sign in as an operator with email and password (OAuth2 password form or JSON)."""
    issued = await operator_service.sign_in(
        session, scope, email=credentials.email, password=credentials.password
    )
    return OperatorTokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get("/me", response_model=OperatorRead)
async def get_operator_me(operator: CurrentOperator) -> Operator:
    """Get the signed-in operator's account."""
    return operator


@router.get("/tenants", response_model=TenantPage)
async def list_tenants(
    operator: CurrentOperator,
    session: PublicSessionDep,
    paging: PageDep,
    status: TenantStatus | None = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Part of the slug, name or owner's email.")
    ] = None,
) -> TenantPage:
    """List tenants by slug, optionally of one status and matching a search."""
    return await operator_service.list_tenants(session, status=status, paging=paging, search=search)


@router.get("/tenants/{slug}", response_model=TenantRead)
async def get_tenant(operator: CurrentOperator, tenant: OperatorTenant) -> Tenant:
    """Get one tenant by slug."""
    return tenant


@router.post("/tenants/{slug}/suspend", response_model=TenantRead, openapi_extra=_json_body(SuspendRequest))
@raises(InvalidTenantState)
async def suspend_tenant(
    operator: CurrentOperator,
    slug: TenantSlug,
    body: SuspendBody,
    scope: OperatorScopeDep,
    session: PublicSessionDep,
) -> Tenant:
    """Suspend a tenant: its hosts answer 403 with the reason, and its audit log records who did it."""
    by = operator_service.actor(operator, scope.ip)
    return await operator_service.suspend_tenant(session, by, slug=slug, reason=body.reason)


@router.post("/tenants/{slug}/resume", response_model=TenantRead)
@raises(InvalidTenantState)
async def resume_tenant(
    operator: CurrentOperator, slug: TenantSlug, scope: OperatorScopeDep, session: PublicSessionDep
) -> Tenant:
    """Make a suspended tenant, or one awaiting deletion, active again (recorded in its audit log)."""
    by = operator_service.actor(operator, scope.ip)
    return await operator_service.resume_tenant(session, by, slug=slug)


@router.delete("/tenants/{slug}", response_model=TenantRead)
@raises(InvalidTenantState)
async def delete_tenant(
    operator: CurrentOperator,
    slug: TenantSlug,
    scope: OperatorScopeDep,
    session: PublicSessionDep,
    grace_days: Annotated[
        int | None,
        Query(ge=0, le=365, description="Days to keep the data (default TENANT_DELETE_GRACE_DAYS)."),
    ] = None,
) -> Tenant:
    """Mark a tenant for deletion: its hosts answer 410 and its data is kept for the grace period, during
    which it can be restored; `platformctl tenants delete --purge` drops it after. Audited."""
    by = operator_service.actor(operator, scope.ip)
    return await operator_service.delete_tenant(session, scope, by, slug=slug, grace_days=grace_days)


@router.post("/tenants/{slug}/restore", response_model=TenantRead)
@raises(InvalidTenantState)
async def restore_tenant(
    operator: CurrentOperator, slug: TenantSlug, scope: OperatorScopeDep, session: PublicSessionDep
) -> Tenant:
    """Bring back a tenant marked for deletion, until it is purged (409 otherwise). Audited."""
    by = operator_service.actor(operator, scope.ip)
    return await operator_service.restore_tenant(session, by, slug=slug)


@router.post(
    "/tenants/{slug}/owners", response_model=OwnerAddedRead, openapi_extra=_json_body(AddOwnerRequest)
)
@raises(InvalidTenantState, OwnerExists, InvalidPassword)
async def add_tenant_owner(
    operator: CurrentOperator,
    slug: TenantSlug,
    body: AddOwnerBody,
    scope: OperatorScopeDep,
    session: PublicSessionDep,
) -> OwnerAddedRead:
    """Make someone an owner of a tenant (promoted, or a new account); recorded in its audit log."""
    by = operator_service.actor(operator, scope.ip)
    added = await operator_service.add_owner(
        session, scope, by, slug=slug, email=body.email, password=body.password
    )
    return OwnerAddedRead(**vars(added))


@router.get("/tenants/{slug}/members", response_model=TenantMemberPage)
async def list_tenant_members(
    request: Request,
    operator: CurrentOperator,
    tenant: OperatorTenant,
    paging: PageDep,
) -> TenantMemberPage:
    """List a tenant's users by email, with their role."""
    session = await tenant_session(request, tenant)
    return await operator_service.list_members(session, paging)


@router.get("/tenants/{slug}/billing", response_model=OperatorBillingRead)
async def get_tenant_billing(
    operator: CurrentOperator, tenant: OperatorTenant, session: PublicSessionDep
) -> OperatorBillingRead:
    """A tenant's billing account and its latest Stripe events (parked ones included)."""
    return await billing_service.operator_view(session, tenant.id)


@router.post(
    "/tenants/{slug}/exports",
    response_model=ExportRead,
    status_code=202,
    openapi_extra=_json_body(ExportRequest),
)
@raises(InvalidTenantState, StorageUnavailable)
async def request_tenant_export(
    operator: CurrentOperator,
    slug: TenantSlug,
    body: ExportBody,
    scope: OperatorScopeDep,
    session: PublicSessionDep,
) -> ExportRead:
    """Ask for an export of a tenant's data (as `platformctl tenants export`), built by a worker into the
    object storage; follow it with GET .../exports/{id}. Recorded in the tenant's audit log."""
    by = operator_service.actor(operator, scope.ip)
    return await operator_service.request_export(session, by, slug=slug, with_files=body.with_files)


@router.get("/tenants/{slug}/exports", response_model=ExportList)
async def list_tenant_exports(
    operator: CurrentOperator, tenant: OperatorTenant, session: PublicSessionDep
) -> ExportList:
    """A tenant's latest exports, newest first."""
    return await operator_service.list_exports(session, tenant)


@router.get("/tenants/{slug}/exports/{export_id}", response_model=ExportRead)
@raises(ExportNotFound, StorageUnavailable)
async def get_tenant_export(
    operator: CurrentOperator, tenant: OperatorTenant, export_id: uuid.UUID, session: PublicSessionDep
) -> ExportRead:
    """One export; once it succeeded, `download_url` is a link to the archive valid for a few minutes."""
    return await operator_service.get_export(session, tenant, export_id)


@router.get("/fleet", response_model=FleetStatusRead)
async def get_fleet_status(
    request: Request, operator: CurrentOperator, session: PublicSessionDep
) -> FleetStatusRead:
    """The tenant migration head and the tenants whose schema is not at it, with their last error
    (what `platformctl db status` lists)."""
    return await operator_service.fleet_status(session, request.app.state.settings)


@router.get("/stripe-events", response_model=WaitingEventPage)
async def list_stripe_events(
    operator: CurrentOperator,
    session: PublicSessionDep,
    paging: PageDep,
    status: EventStatus | None = None,
) -> WaitingEventPage:
    """Stripe events not processed: `parked` (attempts used up), `failed` (being retried); oldest first."""
    return await operator_service.list_stripe_events(session, status=status, paging=paging)


@router.post("/stripe-events/replay", response_model=ReplayRead, openapi_extra=_json_body(ReplayRequest))
async def replay_stripe_events(
    operator: CurrentOperator, body: ReplayBody, scope: OperatorScopeDep, session: PublicSessionDep
) -> ReplayRead:
    """Queue parked Stripe events (and failed ones with `include_failed`; only `event_ids` when given) for
    processing again, as `platformctl billing replay-events`; recorded in the operator log."""
    by = operator_service.actor(operator, scope.ip)
    queued = await operator_service.replay_stripe_events(
        session, by, include_failed=body.include_failed, event_ids=body.event_ids
    )
    return ReplayRead(queued=queued)


@router.get("/actions", response_model=OperatorActionPage)
async def list_operator_actions(
    operator: CurrentOperator, session: PublicSessionDep, paging: PageDep
) -> OperatorActionPage:
    """The platform's log of operator actions (console, API and platformctl), newest first."""
    return await operator_service.list_actions(session, paging=paging)
