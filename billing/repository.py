"""All billing queries: accounts, synced plans and Stripe events in `public`, and the few tenant counts
billing needs. Sync functions serve the workers and the CLI, `*_async` ones (and the rest taking an
AsyncSession) the API. Nothing here commits: the request, task or command owns the transaction.

Two functions read a tenant's own schema from a session on `public` (the workers process events for
any tenant): they reach it through `in_schema`, the one helper for that.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from billing.models import BillingAccount, BillingPlan, StripeEvent
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.context import schema_name_for
from platform_core.kernel.db.binding import in_schema
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page
from tenants.models import Tenant
from tenants.resolution import NOTIFY_CHANNEL

# Built once: a billing state miss is on a request's path.
_STATE = select(BillingAccount.plan_key, BillingAccount.status, BillingAccount.past_due_since).where(
    BillingAccount.tenant_id == bindparam("tenant_id")
)
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', :id)")
_SET_LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', :timeout, true)")


# --- the billing state the API caches (billing/state.py) ---


async def find_state(session: AsyncSession, tenant_id: uuid.UUID) -> Row | None:
    """The tenant's plan key, status and past-due date (None: the tenant has no billing account)."""
    return (await session.execute(_STATE, {"tenant_id": tenant_id})).first()


def notify_state_changed(session: Session, tenant_id: uuid.UUID) -> None:
    """Tell every API process, on commit, to drop the tenant's cached billing state.

    Sent on `tenant_changed`, the channel of every change to a tenant, so the host cache drops the
    tenant too (see the README's design notes).
    """
    session.execute(_NOTIFY, {"id": str(tenant_id)})


# --- billing accounts ---


def get_account(session: Session, tenant_id: uuid.UUID, *, lock: bool = False) -> BillingAccount | None:
    """The tenant's billing account (locked for the transaction when asked)."""
    return session.get(BillingAccount, tenant_id, with_for_update=lock or None)


def get_account_by_customer(
    session: Session, customer_id: str, *, lock: bool = False
) -> BillingAccount | None:
    """The billing account of a Stripe customer."""
    stmt = select(BillingAccount).where(BillingAccount.stripe_customer_id == customer_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def customer_tenant_ids(session: Session) -> Sequence[uuid.UUID]:
    """Tenants that have a Stripe customer, in a stable order."""
    stmt = (
        select(BillingAccount.tenant_id)
        .where(BillingAccount.stripe_customer_id.is_not(None))
        .order_by(BillingAccount.tenant_id)
    )
    return session.scalars(stmt).all()


async def get_account_async(session: AsyncSession, tenant_id: uuid.UUID) -> BillingAccount | None:
    """The tenant's billing account."""
    return await session.get(BillingAccount, tenant_id)


async def lock_account(
    session: AsyncSession, tenant_id: uuid.UUID, *, default_plan: str, lock_timeout_ms: int
) -> BillingAccount:
    """The tenant's billing account, created on `default_plan` when missing, locked for the rest of
    the transaction; waiting at most `lock_timeout_ms` for another transaction holding it (then
    OperationalError with LockNotAvailable)."""
    await session.execute(_SET_LOCK_TIMEOUT, {"timeout": f"{lock_timeout_ms}ms"})
    await session.execute(
        insert(BillingAccount)
        .values(tenant_id=tenant_id, plan_key=default_plan, status="none", cancel_at_period_end=False)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    account = await session.get(BillingAccount, tenant_id, with_for_update=True, populate_existing=True)
    assert account is not None  # inserted above or already there; rows are never deleted but by cascade
    return account


# --- Stripe subscriptions and the synced plans ---


def lock_subscription(session: Session, key: str) -> None:
    """Serialise work on one subscription (or customer) across workers, until the transaction ends."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"stripe:{key}"))))


def find_plan_by_price(session: Session, price_id: str) -> Row | None:
    """The synced plan (key, monthly and yearly price ids) that a Stripe price id belongs to."""
    stmt = select(BillingPlan.key, BillingPlan.stripe_price_monthly, BillingPlan.stripe_price_yearly).where(
        (BillingPlan.stripe_price_monthly == price_id) | (BillingPlan.stripe_price_yearly == price_id)
    )
    return session.execute(stmt).first()


def get_plan(session: Session, key: str, *, lock: bool = False) -> BillingPlan | None:
    """A synced plan's row."""
    return session.get(BillingPlan, key, with_for_update=lock or None)


def add_plan(session: Session, plan: BillingPlan) -> None:
    """Record a plan of the catalogue."""
    session.add(plan)


async def get_plan_async(session: AsyncSession, key: str) -> BillingPlan | None:
    """A synced plan's row (its Stripe price ids)."""
    return await session.get(BillingPlan, key)


# --- Stripe events ---


async def insert_event(session: AsyncSession, event: dict[str, Any], *, created: datetime) -> bool:
    """Store a verified webhook event as pending; False when its id is stored already."""
    stmt = (
        insert(StripeEvent)
        .values(
            id=event["id"],
            type=event["type"][:100],
            created=created,
            livemode=bool(event.get("livemode", False)),
            payload=event,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    return (await session.execute(stmt)).first() is not None


def get_event(session: Session, event_id: str, *, lock: bool = False) -> StripeEvent | None:
    """A stored event (locked for the transaction when asked)."""
    return session.get(StripeEvent, event_id, with_for_update=lock or None)


def count_failed_attempt(session: Session, event_id: str, *, error: str, park_after: int) -> int:
    """Count one more failed attempt at an event, marking it failed, or parked once `park_after`
    attempts failed; return the attempts so far."""
    attempts = session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id)
        .values(attempts=StripeEvent.attempts + 1, last_error=error[:2000])
        .returning(StripeEvent.attempts)
    ).scalar_one()
    status = "parked" if attempts >= park_after else "failed"
    session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(status=status))
    return attempts


def events_to_replay(
    session: Session, *, statuses: Sequence[str], event_ids: Sequence[str] | None = None
) -> list[str]:
    """Lock and return the ids of the events in `statuses` (only those of `event_ids`, when given)."""
    stmt = select(StripeEvent.id).where(StripeEvent.status.in_(statuses)).with_for_update()
    if event_ids:
        stmt = stmt.where(StripeEvent.id.in_(event_ids))
    return list(session.execute(stmt).scalars())


def requeue_events(session: Session, *, event_ids: Sequence[str]) -> None:
    """Mark events pending again, with no attempt counted."""
    session.execute(
        update(StripeEvent).where(StripeEvent.id.in_(event_ids)).values(status="pending", attempts=0)
    )


async def latest_events(session: AsyncSession, tenant_id: uuid.UUID, *, limit: int) -> Sequence[StripeEvent]:
    """A tenant's latest events, newest first."""
    stmt = (
        select(StripeEvent)
        .where(StripeEvent.tenant_id == tenant_id)
        .order_by(StripeEvent.received_at.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def list_events_page(
    session: AsyncSession, *, statuses: Sequence[str], paging: PageParams
) -> tuple[Sequence[StripeEvent], int]:
    """One page of the events in `statuses`, oldest first, and their total."""
    stmt = (
        select(StripeEvent)
        .where(StripeEvent.status.in_(statuses))
        .order_by(StripeEvent.received_at, StripeEvent.id)
    )
    return await fetch_page(session, stmt, paging=paging)


async def waiting_events(session: AsyncSession, statuses: Sequence[str]) -> Sequence[Row[str, int, datetime]]:
    """(status, count, oldest received_at) of the events in each of `statuses` (the partial index)."""
    stmt = (
        select(StripeEvent.status, func.count(), func.min(StripeEvent.received_at))
        .where(StripeEvent.status.in_(statuses))
        .group_by(StripeEvent.status)
    )
    return (await session.execute(stmt)).all()


# --- tenants, as billing needs them ---


def get_tenant(session: Session, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant's registry row (None once it is gone)."""
    return session.get(Tenant, tenant_id)


def count_active_members(session: Session, tenant_id: uuid.UUID) -> int:
    """Active members of a tenant (what a per-seat subscription bills), from a session on `public`."""
    stmt = select(func.count()).select_from(User).where(User.is_active.is_(True))
    return int(in_schema(session, schema_name_for(tenant_id)).execute(stmt).scalar_one())


def owner_emails(session: Session, tenant_id: uuid.UUID) -> list[str]:
    """Addresses of a tenant's active owners, from a session on `public`."""
    stmt = select(User.email).where(User.role_id == builtin_role_id("owner"), User.is_active.is_(True))
    return list(in_schema(session, schema_name_for(tenant_id)).scalars(stmt))
