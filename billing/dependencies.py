"""Entitlement gates for routes, next to the permission gates: features of the plan, seats, storage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from billing.catalog import Feature
from billing.state import BILLING_STATES, plan_of, state_for_request
from platform_core.kernel.context import TenantContext
from platform_core.kernel.errors import Forbidden, PaymentRequired, declared_errors, raises
from platform_core.kernel.tenancy import HostKind, get_tenant, serves_on


class FeatureNotInPlan(Forbidden):
    """The tenant's plan does not include the feature."""

    code = "feature_not_in_plan"


class SeatLimitReached(PaymentRequired):
    """Every seat of the plan is taken (members and open invitations)."""

    code = "seat_limit_reached"


class StorageLimitReached(PaymentRequired):
    """The upload does not fit in the plan's storage (stored files and pending uploads)."""

    code = "storage_limit_reached"


def require_feature(feature: Feature) -> Callable[[Request], Awaitable[TenantContext]]:
    """A dependency that refuses the route (403) when the tenant's plan lacks `feature`."""

    async def dependency(request: Request) -> TenantContext:
        tenant = await get_tenant(request)
        plan = plan_of(await state_for_request(request, tenant))
        if feature not in plan.entitlements.features:
            name = feature.value.replace("_", " ")
            raise FeatureNotInPlan(
                f"The {plan.name} plan does not include {name}: upgrade to use it.",
                details={"feature": feature.value, "plan": plan.key},
            )
        return tenant

    dependency.__name__ = f"require_feature_{feature.value}"
    raises(*declared_errors(get_tenant), FeatureNotInPlan)(dependency)
    return serves_on(HostKind.TENANT)(dependency)


async def check_seats(session: AsyncSession, tenant: TenantContext, used: int) -> None:
    """Refuse a new member or invitation when `used` seats already fill the plan (402)."""
    plan = plan_of(await BILLING_STATES.get(session, tenant.id))
    allowed = plan.entitlements.seats
    if used >= allowed:
        raise SeatLimitReached(
            f"All {allowed} seats of the {plan.name} plan are taken: upgrade, or remove a member or an "
            "open invitation.",
            details={"seats_used": used, "seats_allowed": allowed, "plan": plan.key},
        )


def _size(n: int) -> str:
    """Bytes for people: 10 bytes, 512.0 KiB, 1.5 GiB."""
    if n < 1024:
        return f"{n} bytes"
    units = ("KiB", "MiB", "GiB", "TiB")
    value, index = n / 1024, 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return f"{value:.1f} {units[index]}"


async def check_storage(
    session: AsyncSession, tenant: TenantContext, *, stored: int, reserved: int, requested: int
) -> None:
    """Refuse `requested` more bytes when stored files and pending uploads leave too little room (402).

    Call it under the tenant's storage lock (uploads.repository.lock_storage), so that two requests
    for the last free bytes cannot both pass.
    """
    plan = plan_of(await BILLING_STATES.get(session, tenant.id))
    allowed = plan.entitlements.storage_bytes
    if stored + reserved + requested > allowed:
        free = max(allowed - stored - reserved, 0)
        raise StorageLimitReached(
            f"This file needs {_size(requested)} but only {_size(free)} of the {plan.name} plan's "
            f"{_size(allowed)} are free: upgrade, or delete files.",
            details={
                "storage_used_bytes": stored,
                "storage_reserved_bytes": reserved,
                "storage_allowed_bytes": allowed,
                "requested_bytes": requested,
                "plan": plan.key,
            },
        )


ReportsFeature = Annotated[TenantContext, Depends(require_feature(Feature.REPORTS))]
WebhooksFeature = Annotated[TenantContext, Depends(require_feature(Feature.WEBHOOKS))]
ApiKeysFeature = Annotated[TenantContext, Depends(require_feature(Feature.API_KEYS))]
