"""The operator API's fleet migration status, waiting Stripe events and their replay, and its log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from billing.models import StripeEvent
from platform_core.kernel.outbox import OutboxMessage
from platform_core.operators.models import OperatorAction
from tenants.models import Tenant


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def put_behind(
    db, tenant, *, revision: str = "0000behind", error: str | None = "boom: column exists"
) -> None:
    """Make a tenant's schema look one migration behind, with a recorded error (the test's transaction)."""
    async with db.session(None) as session:
        await session.execute(
            text(f'UPDATE "{tenant.schema_name}".alembic_version SET version_num = :v'), {"v": revision}
        )
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(migration_error=error))
        await session.commit()


async def add_event(db, event_id: str, status: str, *, minutes_ago: int = 0, tenant_id=None) -> None:
    """Store a Stripe event in `status`."""
    async with db.session(None) as session:
        session.add(
            StripeEvent(
                id=event_id,
                type="customer.subscription.updated",
                created=datetime.now(UTC),
                received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
                payload={},
                status=status,
                attempts=8 if status == "parked" else 2,
                last_error="EventNotReady: no tenant has Stripe customer 'cus_x' yet",
                tenant_id=tenant_id,
            )
        )
        await session.commit()


class TestFleet:
    async def test_lists_tenants_not_at_head_with_their_error(self, admin, db, tenant_service, tenant_a):
        slug = _slug("flt")
        tenant = tenant_service.create(slug=slug, name="Behind")
        await put_behind(db, tenant)
        response = await admin.get("/api/v1/operator/fleet")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["head"]
        assert body["tenants"] >= 3
        behind = {row["slug"]: row for row in body["behind"]}
        assert behind[slug]["revision"] == "0000behind"
        assert behind[slug]["error"] == "boom: column exists"
        assert behind[slug]["status"] == "active"
        assert "alpha" not in behind

    async def test_needs_an_operator_on_the_operator_host(self, admin_anon, client_a):
        assert (await admin_anon.get("/api/v1/operator/fleet")).status_code == 401
        assert (await client_a.get("/api/v1/operator/fleet")).status_code == 404


class TestStripeEvents:
    async def test_lists_waiting_events_oldest_first_and_filters(self, admin, db, tenant_a):
        await add_event(db, "evt_parked_old", "parked", minutes_ago=30, tenant_id=tenant_a.id)
        await add_event(db, "evt_failed_new", "failed", minutes_ago=1)
        await add_event(db, "evt_done", "processed", minutes_ago=5)
        every = (await admin.get("/api/v1/operator/stripe-events")).json()
        ids = [e["id"] for e in every["items"]]
        assert ids.index("evt_parked_old") < ids.index("evt_failed_new")
        assert "evt_done" not in ids
        [parked] = [e for e in every["items"] if e["id"] == "evt_parked_old"]
        assert (parked["tenant_id"], parked["attempts"]) == (str(tenant_a.id), 8)
        only = (await admin.get("/api/v1/operator/stripe-events", params={"status": "parked"})).json()
        assert {e["status"] for e in only["items"]} == {"parked"}
        bad = await admin.get("/api/v1/operator/stripe-events", params={"status": "processed"})
        assert bad.status_code == 422

    async def test_replay_queues_parked_events_and_is_logged(self, admin, db, operator):
        await add_event(db, "evt_replay_parked", "parked")
        await add_event(db, "evt_replay_failed", "failed")
        response = await admin.post("/api/v1/operator/stripe-events/replay", json={})
        assert response.status_code == 200, response.text
        assert "evt_replay_parked" in response.json()["queued"]
        assert "evt_replay_failed" not in response.json()["queued"]
        async with db.session(None) as session:
            event = await session.get(StripeEvent, "evt_replay_parked")
            assert (event.status, event.attempts) == ("pending", 0)
            assert (await session.get(StripeEvent, "evt_replay_failed")).status == "failed"
            tasks = (
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.task_name == "billing.process_event")
                )
            ).all()
            assert {"event_id": "evt_replay_parked"} in [t.kwargs for t in tasks]
            [logged] = (
                await session.scalars(
                    select(OperatorAction).where(
                        OperatorAction.action == "billing.events_replayed",
                        OperatorAction.operator_id == operator.id,
                    )
                )
            ).all()
        assert "evt_replay_parked" in logged.details["event_ids"]

    async def test_replay_of_named_events_including_failed(self, admin, db):
        await add_event(db, "evt_named_a", "failed")
        await add_event(db, "evt_named_b", "parked")
        response = await admin.post(
            "/api/v1/operator/stripe-events/replay",
            json={"event_ids": ["evt_named_a"], "include_failed": True},
        )
        assert response.json() == {"queued": ["evt_named_a"]}
        async with db.session(None) as session:
            assert (await session.get(StripeEvent, "evt_named_b")).status == "parked"

    async def test_nothing_to_replay_logs_nothing(self, admin, db):
        async with db.session(None) as session:
            replays = select(func.count()).where(OperatorAction.action == "billing.events_replayed")
            before = await session.scalar(replays)
        response = await admin.post(
            "/api/v1/operator/stripe-events/replay", json={"event_ids": ["evt_unknown"]}
        )
        assert response.json() == {"queued": []}
        async with db.session(None) as session:
            assert await session.scalar(replays) == before

    @pytest.mark.parametrize(
        "body",
        [{"event_ids": "evt_1"}, {"event_ids": ["bad id!"]}, {"event_ids": ["e"] * 101}, {"other": 1}],
    )
    async def test_bad_bodies_are_422(self, admin, body):
        response = await admin.post("/api/v1/operator/stripe-events/replay", json=body)
        assert response.status_code == 422

    async def test_needs_an_operator_on_the_operator_host(self, admin_anon, client_a):
        assert (await admin_anon.get("/api/v1/operator/stripe-events")).status_code == 401
        assert (await admin_anon.post("/api/v1/operator/stripe-events/replay", json={})).status_code == 401
        assert (await client_a.post("/api/v1/operator/stripe-events/replay", json={})).status_code == 404


async def test_the_operator_log_lists_actions_newest_first(admin, tenant_service, operator):
    slug = _slug("log")
    tenant_service.create(slug=slug, name="Logged")
    await admin.post(f"/api/v1/operator/tenants/{slug}/suspend", json={"reason": "first"})
    await admin.post(f"/api/v1/operator/tenants/{slug}/resume")
    body = (await admin.get("/api/v1/operator/actions")).json()
    mine = [a for a in body["items"] if a["target_id"] == slug]
    assert [a["action"] for a in mine] == ["tenant.resumed", "tenant.suspended"]
    assert mine[1]["details"]["reason"] == "first"
    assert mine[1]["actor_label"] == operator.email
