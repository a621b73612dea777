"""The billing state cache: a warm tenant costs no query, misses read one row, invalidation per tenant,
the TTL (only while the listener is down), and no caching of a lookup a change overtook."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from sqlalchemy import event

from billing import repository
from billing.models import BillingAccount
from billing.state import BILLING_STATES, NO_ACCOUNT, BillingState, BillingStates, plan_of, state_of
from platform_core.app.main import create_app
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import KEPT_WHILE_LISTENING, Notifications
from tenants.resolution import NOTIFY_CHANNEL
from tests.conftest import owner_client


class FakeClock:
    """A clock the test moves by hand (time itself, not a service)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(settings):
    database = Database(settings, pool_size=1)
    yield database
    await database.dispose()


@pytest.fixture
def billed(tenant_service, sync_db):
    """A committed tenant with a billing account in the given state."""

    def make(status: str, plan: str = "pro"):
        tenant = tenant_service.create(slug=f"state-{uuid.uuid4().hex[:8]}", name="State")
        with sync_db.sync_session() as session, session.begin():
            session.add(BillingAccount(tenant_id=tenant.id, plan_key=plan, status=status))
        return tenant

    return make


def set_status(sync_db, tenant_id: uuid.UUID, status: str) -> None:
    """Change a billing account's status in a committed transaction (no notification)."""
    with sync_db.sync_session() as session, session.begin():
        session.get_one(BillingAccount, tenant_id).status = status


async def test_a_warm_tenant_costs_no_query_until_the_ttl(database, billed, sync_db):
    clock = FakeClock()
    states = BillingStates(ttl=30, clock=clock)
    tenant = billed("active")
    async with database.session() as session:
        assert await states.get(session, tenant.id) == BillingState("pro", "active", None)
        set_status(sync_db, tenant.id, "past_due")
        for _ in range(20):
            assert (await states.get(session, tenant.id)).status == "active"  # cached: no query
        assert states.lookups == 1
        clock.now += 31
        assert (await states.get(session, tenant.id)).status == "past_due"
        assert states.lookups == 2


async def test_entries_outlive_the_ttl_while_the_listener_is_connected(database, billed, sync_db, settings):
    clock = FakeClock()
    states = BillingStates(ttl=30, clock=clock)
    notifications = Notifications(settings)
    states.subscribe(notifications)
    tenant = billed("active")
    ready = asyncio.Event()
    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with database.session() as session:
            await states.get(session, tenant.id)
            set_status(sync_db, tenant.id, "past_due")  # by hand: no notification
            clock.now += 600
            assert (await states.get(session, tenant.id)).status == "active"  # kept: no query
            assert states.lookups == 1
            clock.now += KEPT_WHILE_LISTENING
            assert (await states.get(session, tenant.id)).status == "past_due"  # at most an hour
            assert states.lookups == 2
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert not notifications.connected
    clock.now += 31  # the listener is down: the TTL applies again
    set_status(sync_db, tenant.id, "canceled")
    async with database.session() as session:
        assert (await states.get(session, tenant.id)).status == "canceled"
    assert states.lookups == 3


async def test_a_tenant_without_an_account_has_the_default_plan(database, tenant_service):
    tenant = tenant_service.create(slug=f"none-{uuid.uuid4().hex[:8]}", name="None")
    states = BillingStates(ttl=30)
    async with database.session() as session:
        state = await states.get(session, tenant.id)
    assert state == NO_ACCOUNT
    assert plan_of(state).key == "free"


async def test_an_invalidation_drops_only_the_tenant_it_names(database, billed, sync_db):
    states = BillingStates(ttl=30)
    changed, other = billed("active"), billed("active")
    async with database.session() as session:
        for tenant in (changed, other):
            await states.get(session, tenant.id)
        set_status(sync_db, changed.id, "canceled")
        states.invalidate(str(changed.id))  # what the listener does with the notification's payload
        assert (await states.get(session, changed.id)).status == "canceled"
        assert (await states.get(session, other.id)).status == "active"
        assert states.lookups == 3  # the other tenant stayed cached
        states.invalidate(None)  # a (re)connected listener forgets everything
        await states.get(session, other.id)
        assert states.lookups == 4


async def test_a_ttl_of_zero_keeps_nothing(database, billed):
    states = BillingStates(ttl=0)
    tenant = billed("active")
    async with database.session() as session:
        await states.get(session, tenant.id)
        await states.get(session, tenant.id)
    assert states.lookups == 2


@pytest.mark.parametrize("notified", ["tenant", "everything"])
async def test_a_lookup_overtaken_by_a_change_is_not_cached(database, billed, sync_db, notified):
    states = BillingStates(ttl=30)
    tenant = billed("active")

    def change_after_the_read(*_: object) -> None:
        # The lookup has read the account as active; the cancellation commits and its notification
        # is heard before the lookup's answer is stored.
        set_status(sync_db, tenant.id, "canceled")
        states.invalidate(str(tenant.id) if notified == "tenant" else None)

    engine = database.async_engine.sync_engine
    event.listen(engine, "after_cursor_execute", change_after_the_read, once=True)
    try:
        async with database.session() as session:
            assert (await states.get(session, tenant.id)).status == "active"  # answered as read
    finally:
        if event.contains(engine, "after_cursor_execute", change_after_the_read):
            event.remove(engine, "after_cursor_execute", change_after_the_read)
    async with database.session() as session:
        assert (await states.get(session, tenant.id)).status == "canceled"  # not the stale answer
    assert states.lookups == 2


def test_the_plan_applies_only_while_the_subscription_grants_it():
    assert plan_of(BillingState("pro", "active", None)).key == "pro"
    assert plan_of(BillingState("pro", "past_due", None)).key == "pro"
    assert plan_of(BillingState("pro", "canceled", None)).key == "free"
    assert plan_of(BillingState("no-such-plan", "active", None)).key == "free"
    account = BillingAccount(tenant_id=uuid.uuid4(), plan_key="pro", status="trialing")
    assert state_of(account) == BillingState("pro", "trialing", None)


async def test_the_app_enforces_a_change_as_soon_as_its_notification_arrives(settings, sync_db, billed):
    """The app factory's wiring: its listener hands `tenant_changed` to the billing state cache."""
    tenant = billed("active")
    database = Database(settings, pool_size=2)
    app = create_app(settings.model_copy(update={"metrics_port": 0}), db=database, access_log=False)
    connected, heard = asyncio.Event(), asyncio.Event()

    def probe(tenant_id: str | None) -> None:  # subscribed after the caches: called after them
        if tenant_id is None:
            connected.set()
        elif tenant_id == str(tenant.id):
            heard.set()

    app.state.notifications.subscribe(NOTIFY_CHANNEL, probe)
    try:
        async with app.router.lifespan_context(app), owner_client(app, settings, sync_db, tenant) as client:
            await asyncio.wait_for(connected.wait(), 10)
            assert (await client.get("/api/v1/items")).status_code == 200
            assert BILLING_STATES.cached(tenant.id) == BillingState("pro", "active", None)
            with sync_db.sync_session() as session, session.begin():
                session.get_one(BillingAccount, tenant.id).status = "canceled"
                repository.notify_state_changed(session, tenant.id)  # as billing's tasks do
            await asyncio.wait_for(heard.wait(), 10)
            refused = await client.get("/api/v1/items")
            assert refused.status_code == 402
            assert refused.json()["error"]["code"] == "subscription_inactive"
    finally:
        await database.dispose()
