"""Access follows the subscription: grace, read-only, billing-only; features and seats of the plan."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from billing.models import BillingAccount
from platform_core.access.models import Invitation
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import OutboxMessage
from tests.conftest import client_for, host_of, owner_client


def _slug() -> str:
    return f"bill-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def billed(tenant_service, sync_db):
    """A committed tenant with a billing account in the given state."""

    def make(status: str, plan: str = "pro", past_due_days: float | None = None):
        tenant = tenant_service.create(slug=_slug(), name="Billed")
        since = utcnow() - timedelta(days=past_due_days) if past_due_days is not None else None
        with sync_db.sync_session() as session, session.begin():
            session.add(
                BillingAccount(tenant_id=tenant.id, plan_key=plan, status=status, past_due_since=since)
            )
        return tenant

    return make


async def test_past_due_within_grace_keeps_full_access(app, settings, sync_db, billed):
    tenant = billed("past_due", past_due_days=2)
    async with owner_client(app, settings, sync_db, tenant) as client:
        assert (await client.post("/api/v1/items", json={"title": "still fine"})).status_code == 201


async def test_past_due_after_grace_is_read_only_with_a_link_to_billing(app, settings, sync_db, billed):
    tenant = billed("past_due", past_due_days=8)
    async with owner_client(app, settings, sync_db, tenant) as client:
        assert (await client.get("/api/v1/items")).status_code == 200
        write = await client.post("/api/v1/items", json={"title": "refused"})
        assert write.status_code == 402
        error = write.json()["error"]
        assert error["code"] == "payment_overdue"
        assert error["details"]["billing_url"] == f"https://{tenant.slug}.example.com/settings/billing"
        assert (await client.get("/api/v1/billing")).json()["status"] == "past_due"


@pytest.mark.parametrize("status", ["unpaid", "canceled"])
async def test_unpaid_or_canceled_leaves_only_billing_and_sign_in(app, settings, sync_db, billed, status):
    tenant = billed(status)
    async with owner_client(app, settings, sync_db, tenant) as client:
        read = await client.get("/api/v1/items")
        assert read.status_code == 402
        assert read.json()["error"]["code"] == "subscription_inactive"
        assert (await client.get("/api/v1/billing")).status_code == 200
    async with client_for(app, host_of(tenant)) as anonymous:
        sign_in = await anonymous.post("/api/v1/auth/token", json={"email": "x@example.org", "password": "x"})
        assert sign_in.status_code == 401  # sign-in itself still answers


async def test_the_free_plan_has_no_reports_or_api_keys(app, settings, sync_db, tenant_service):
    tenant = tenant_service.create(slug=_slug(), name="Free")
    async with owner_client(app, settings, sync_db, tenant) as client:
        report = await client.post("/api/v1/reports", json={"kind": "items_csv"})
        assert report.status_code == 403
        assert report.json()["error"]["code"] == "feature_not_in_plan"
        assert report.json()["error"]["details"] == {"feature": "reports", "plan": "free"}
        key = await client.post("/api/v1/api-keys", json={"name": "ci", "scopes": ["items:read"]})
        assert key.status_code == 403
        assert (await client.get("/api/v1/billing")).json()["plan"]["key"] == "free"


async def test_invitations_stop_at_the_plans_seats(app, settings, sync_db, tenant_service):
    tenant = tenant_service.create(slug=_slug(), name="Seats")  # free: 3 seats, the owner takes one
    async with owner_client(app, settings, sync_db, tenant) as client:
        for n in range(2):
            invited = await client.post(
                "/api/v1/invitations", json={"email": f"p{n}@example.org", "role": "member"}
            )
            assert invited.status_code == 201
        full = await client.post("/api/v1/invitations", json={"email": "p3@example.org", "role": "member"})
        assert full.status_code == 402
        assert full.json()["error"]["code"] == "seat_limit_reached"
        assert full.json()["error"]["details"] == {"seats_used": 3, "seats_allowed": 3, "plan": "free"}
        billing = (await client.get("/api/v1/billing")).json()
        assert (billing["seats_used"], billing["seats_allowed"]) == (3, 3)


async def test_resending_an_expired_invitation_needs_a_free_seat(app, settings, sync_db, db, tenant_service):
    tenant = tenant_service.create(slug=_slug(), name="Seats")  # free: 3 seats, the owner takes one
    async with owner_client(app, settings, sync_db, tenant) as client:
        stale = await client.post("/api/v1/invitations", json={"email": "old@example.org", "role": "member"})
        assert stale.status_code == 201
        async with db.session(tenant.schema_name) as session:
            await session.execute(
                update(Invitation)
                .where(Invitation.id == uuid.UUID(stale.json()["id"]))
                .values(expires_at=utcnow() - timedelta(hours=1))
            )
            await session.commit()
        for n in range(2):  # the expired invitation holds no seat: two more fill the plan
            invited = await client.post(
                "/api/v1/invitations", json={"email": f"p{n}@example.org", "role": "member"}
            )
            assert invited.status_code == 201
        resent = await client.post(f"/api/v1/invitations/{stale.json()['id']}/resend")
        assert resent.status_code == 402
        assert resent.json()["error"]["details"]["seats_used"] == 3


async def test_billing_shows_the_plan_and_is_gated(app, client_a, settings, db, tenant_a):
    from tests.conftest import signed_in
    from tests.factories import access_token, create_user

    body = (await client_a.get("/api/v1/billing")).json()
    assert body["plan"]["key"] == "pro"
    assert body["status"] == "active"
    assert "reports" in body["plan"]["features"]
    viewer = await create_user(db, tenant_a, role="viewer")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, viewer.id)) as client:
        assert (await client.get("/api/v1/billing")).status_code == 403


async def test_concurrent_invitations_cannot_exceed_the_seats(settings, sync_db, tenant_service):
    """Two invitations for the last seat at the same instant: one 201, one 402 (the count is locked)."""
    import asyncio

    from platform_core.app.main import create_app
    from platform_core.kernel.db.engines import Database

    tenant = tenant_service.create(slug=_slug(), name="Last seat")  # free: 3 seats
    database = Database(settings, pool_size=4)
    app = create_app(settings, db=database, access_log=False)
    try:
        async with owner_client(app, settings, sync_db, tenant) as client:
            first = await client.post(
                "/api/v1/invitations", json={"email": "a@example.org", "role": "member"}
            )
            assert first.status_code == 201
            answers = await asyncio.gather(
                *(
                    client.post("/api/v1/invitations", json={"email": f"{n}@example.org", "role": "member"})
                    for n in ("b", "c")
                )
            )
        assert sorted(a.status_code for a in answers) == [201, 402], [a.text for a in answers]
    finally:
        await app.state.redis.aclose()
        await database.dispose()
        with sync_db.sync_session() as session, session.begin():  # no relay here: leave no emails behind
            session.execute(delete(OutboxMessage).where(OutboxMessage.tenant_id == tenant.id))


async def test_billing_shows_only_the_callers_tenant(client_a, client_b, db, tenant_a):
    from tests.factories import create_user

    before_b = (await client_b.get("/api/v1/billing")).json()["seats_used"]
    for _ in range(2):
        await create_user(db, tenant_a, role="member")
    seats_a = (await client_a.get("/api/v1/billing")).json()["seats_used"]
    assert seats_a >= 3
    assert (await client_b.get("/api/v1/billing")).json()["seats_used"] == before_b


async def test_billing_shows_a_plan_that_agrees_with_its_status_before_the_cache_refreshes(
    app, settings, sync_db, billed
):
    tenant = billed("active")
    async with owner_client(app, settings, sync_db, tenant) as client:
        assert (await client.get("/api/v1/billing")).json()["plan"]["key"] == "pro"  # now cached
        with sync_db.sync_session() as session, session.begin():
            session.get_one(BillingAccount, tenant.id).status = "canceled"  # no NOTIFY reaches this app
        billing = (await client.get("/api/v1/billing")).json()
    assert (billing["status"], billing["plan"]["key"]) == ("canceled", "free")
