"""The tenant's billing as the API shows it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.access import plan_of
from billing.catalog import PlanSpec
from billing.models import BillingAccount
from billing.schemas import BillingRead, PlanRead
from platform_core.context import TenantContext
from platform_core.invitations import repository as invitation_repository


def plan_read(plan: PlanSpec) -> PlanRead:
    """Render a catalogue plan."""
    ent = plan.entitlements
    return PlanRead(
        key=plan.key,
        name=plan.name,
        trial_days=plan.trial_days,
        per_seat=plan.per_seat,
        prices={interval.value: amount for interval, amount in plan.prices.items()},
        seats=ent.seats,
        storage_bytes=ent.storage_bytes,
        features=sorted(f.value for f in ent.features),
        api_rate_limit=ent.api_rate_limit,
    )


async def billing_state(session: AsyncSession, tenant: TenantContext) -> BillingRead:
    """The tenant's plan and subscription (from public.billing_account) and its usage."""
    account = (
        await session.execute(select(BillingAccount).where(BillingAccount.tenant_id == tenant.id))
    ).scalar_one_or_none()
    plan = plan_of(tenant)
    return BillingRead(
        plan=plan_read(plan),
        status=account.status if account else "none",
        interval=account.interval if account else None,
        current_period_end=account.current_period_end if account else None,
        cancel_at_period_end=account.cancel_at_period_end if account else False,
        trial_end=account.trial_end if account else None,
        past_due_since=account.past_due_since if account else None,
        seats_used=await invitation_repository.seats_used(session),
        seats_allowed=plan.entitlements.seats,
        storage_used_bytes=0,  # uploads are not built yet: nothing is stored
        storage_allowed_bytes=plan.entitlements.storage_bytes,
    )
