"""Each tenant's billing state (plan, status, past-due date), cached per process.

Every permission gate asks the access policy what the tenant's billing allows, so a warm request must
cost no query: the state is kept per tenant in this process, and a miss costs one query on the
caller's session. Workers change a billing account when they process a Stripe event, reconcile or
follow the tenant's lifecycle; when what is cached here changed, they send `NOTIFY tenant_changed`
(`repository.notify_state_changed`) in the same transaction, and every API process's listener
(platform_core.kernel.db.notifications, wired by the app factory) drops that tenant's entry as the
change commits. A lookup that a change overtook while it read the database is answered but not
cached; a (re)connection of the listener forgets everything. While the listener is connected an entry
is kept until a notification drops it (at most an hour: `entry_lifetime`); while it is down, entries
older than TENANT_CACHE_TTL_SECONDS are not used.

A request's transaction never changes these fields (checkout only creates the account on the
default plan, which reads the same as having none), so loading through the caller's session never
caches something uncommitted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository
from billing.catalog import Catalog, PlanSpec, get_catalog
from billing.models import BillingAccount
from platform_core.kernel.changes import ChangeLog
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.notifications import Notifications, entry_lifetime
from platform_core.kernel.tenancy import get_tenant_session
from tenants.resolution import NOTIFY_CHANNEL

# Statuses in which the subscription's plan applies (past_due: within the grace period, see access.py).
GRANTING = frozenset({"trialing", "active", "past_due"})


@dataclass(frozen=True, slots=True)
class BillingState:
    """What access and entitlements depend on: the plan, the subscription's status ("none": no
    subscription) and since when it is past due."""

    plan_key: str | None = None
    status: str = "none"
    past_due_since: datetime | None = None


NO_ACCOUNT = BillingState()


def state_of(account: BillingAccount) -> BillingState:
    """The cached fields of a billing account (compare before and after a change to know whether the
    API processes must hear of it)."""
    return BillingState(
        plan_key=account.plan_key, status=account.status, past_due_since=account.past_due_since
    )


def plan_of(state: BillingState, catalog: Catalog | None = None) -> PlanSpec:
    """The plan whose entitlements apply to a tenant in `state` (the default plan without a live
    subscription)."""
    catalog = catalog or get_catalog()
    if state.status in GRANTING and state.plan_key:
        try:
            return catalog.plan(state.plan_key)
        except KeyError:
            pass
    return catalog.default


class BillingStates:
    """Billing state by tenant id; each entry lives `entry_lifetime(ttl, listener)` seconds (ttl 0:
    nothing is kept)."""

    def __init__(
        self, ttl: float = 30.0, *, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._notifications: Notifications | None = None  # the listener, once subscribed
        self._entries: dict[uuid.UUID, tuple[float, BillingState]] = {}  # stored at, state
        self._changes = ChangeLog()  # which lookups a change overtook
        self.lookups = 0  # database lookups made, for tests

    def configure(self, *, ttl: float) -> None:
        """Set the entries' lifetime and start cold (an app factory calls it for its process)."""
        self.ttl = ttl
        self.invalidate(None)

    def subscribe(self, notifications: Notifications) -> None:
        """Hear of every tenant change (`NOTIFY tenant_changed`) from the process's listener, and keep
        entries while it is connected."""
        notifications.subscribe(NOTIFY_CHANNEL, self.invalidate)
        self._notifications = notifications

    def cached(self, tenant_id: uuid.UUID) -> BillingState | None:
        """The tenant's cached state, or None when absent or expired (no query)."""
        entry = self._entries.get(tenant_id)
        if entry is not None and self.clock() - entry[0] < entry_lifetime(self.ttl, self._notifications):
            return entry[1]
        return None

    async def get(self, session: AsyncSession, tenant_id: uuid.UUID) -> BillingState:
        """The tenant's billing state: from this process's cache, else read through `session`."""
        return self.cached(tenant_id) or await self.load(session, tenant_id)

    async def load(self, session: AsyncSession, tenant_id: uuid.UUID) -> BillingState:
        """Read the tenant's state through `session` (one query) and cache it, unless a change of the
        tenant was heard meanwhile: then the answer is returned but not kept."""
        started = self._changes.start()
        self.lookups += 1
        row = await repository.find_state(session, tenant_id)
        state = NO_ACCOUNT if row is None else BillingState(row.plan_key, row.status, row.past_due_since)
        if self.ttl > 0 and self._changes.current(started, tenant_id):
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[tenant_id] = (self.clock(), state)
        return state

    def invalidate(self, tenant_id: uuid.UUID | str | None = None) -> None:
        """Forget one tenant's state; everything without an id (or with one that is not an id)."""
        key = self._changes.record(tenant_id)
        if key is None:
            self._entries.clear()
            return
        self._entries.pop(key, None)


# The process's cache: the access policy, the entitlement gates and the seat rules read it.
BILLING_STATES = BillingStates()


async def state_for_request(
    request: Request, tenant: TenantContext, states: BillingStates = BILLING_STATES
) -> BillingState:
    """The billing state of the request's tenant; a miss is read through the request's session."""
    return states.cached(tenant.id) or await states.load(await get_tenant_session(request), tenant.id)
