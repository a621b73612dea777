"""The operator API's view of a tenant's billing."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.models import StripeEvent


async def test_an_operator_sees_a_tenants_billing_and_its_events(admin, db, tenant_a):
    async with db.session(None) as session:
        session.add(
            StripeEvent(
                id="evt_operator_view",
                type="invoice.payment_failed",
                created=datetime.now(UTC),
                payload={},
                status="parked",
                attempts=8,
                last_error="EventNotReady: no tenant has Stripe customer 'cus_x' yet",
                tenant_id=tenant_a.id,
            )
        )
        await session.commit()
    response = await admin.get(f"/api/v1/operator/tenants/{tenant_a.slug}/billing")
    assert response.status_code == 200
    body = response.json()
    assert (body["plan_key"], body["status"]) == ("pro", "active")
    assert [(e["id"], e["status"], e["attempts"]) for e in body["events"]] == [
        ("evt_operator_view", "parked", 8)
    ]


async def test_the_billing_view_needs_an_operator(admin_anon, client_a, tenant_a):
    assert (await admin_anon.get(f"/api/v1/operator/tenants/{tenant_a.slug}/billing")).status_code == 401
    assert (await client_a.get(f"/api/v1/operator/tenants/{tenant_a.slug}/billing")).status_code == 404
    assert (await admin_anon.get("/api/v1/operator/tenants/no-such-tenant/billing")).status_code == 401
