"""The whole life of a subscription, driven only by signed webhooks from a Stripe-compatible server.

Every piece is a real process: localstripe (with localstripe_plus) behind the stand-in, the API under
uvicorn, the outbox relay and a Celery worker, and an SMTP sink. The test acts as the customer and as
time (through Stripe's API: the trial ends with `trial_end=now`, a renewal comes due with
`billing_cycle_anchor=now`, the period's end cancels the subscription); it never writes billing state
itself. What the tenant may do is read back from the API after each step.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from billing.models import StripeEvent
from platform_core.kernel.db.engines import Database
from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.settings import Settings
from tenants.lifecycle import BILLING_FOLLOW_TASK
from tests.support.billing_stack import Stack, billing_stack, billing_until, tenant_with_owner
from tests.support.processes import tasks_ran, wait_until
from tests.support.tenants import TenantOps
from workers.celery_app import create_celery
from workers.settings import CelerySettings

API_KEY = "sk_test_lifecycle"
GRACE_SECONDS = 10.0
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # attaches to the customer, every charge is declined


@pytest.fixture(scope="module")
def stack(settings: Settings, sync_db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Stripe-compatible server, mail sink, API, relay and worker, with the webhook registered."""
    grace = {"BILLING_PAST_DUE_GRACE_DAYS": repr(GRACE_SECONDS / 86400)}
    workdir = tmp_path_factory.mktemp("lifecycle")
    with billing_stack(settings, sync_db, workdir, api_key=API_KEY, extra_env=grace) as running:
        yield running


def _owner(settings: Settings, sync_db: Database, tenant_service: TenantOps) -> tuple[Any, Any, str]:
    return tenant_with_owner(settings, sync_db, tenant_service, "life")


def _card(client: stripe.StripeClient, customer: str, number: str) -> None:
    """The customer changes the card that pays their invoices."""
    token = client.v1.tokens.create(
        params={"card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
    )
    card = client.v1.customers.payment_sources.create(customer, params={"source": token.id})
    client.v1.customers.update(customer, params={"default_source": card.id})


def _write(api: httpx.Client) -> httpx.Response:
    return api.post("/api/v1/items", json={"title": f"item {uuid.uuid4().hex[:6]}"})


def _answers(request: Callable[[], httpx.Response], status: int) -> httpx.Response:
    """Repeat `request` until it answers `status`. GET /api/v1/billing reads the account itself; the
    gates read each API process's tenant cache, which NOTIFY refreshes moments after the commit."""
    last: httpx.Response | None = None

    def check() -> bool:
        nonlocal last
        last = request()
        return last.status_code == status

    try:
        wait_until(check, timeout=15, interval=0.1)
    except AssertionError:
        assert last is not None
        raise AssertionError(f"expected {status}, still {last.status_code}: {last.text[:300]}") from None
    assert last is not None
    return last


def test_a_subscription_from_trial_to_cancellation(stack, settings, sync_db, tenant_service):
    tenant, owner, token = _owner(settings, sync_db, tenant_service)
    headers = {"Host": f"{tenant.slug}.localhost", "Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api.url, headers=headers, timeout=30) as api:
        assert api.get("/api/v1/billing").json()["plan"]["key"] == "free"
        assert api.post("/api/v1/reports", json={"kind": "items_csv"}).status_code == 403

        # Trial: checkout, then the customer pays on Stripe's page.
        started = api.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        assert started.status_code == 200, started.text
        paid = httpx.post(f"{started.json()['url']}/complete", headers={"Authorization": f"Bearer {API_KEY}"})
        assert paid.status_code == 200, paid.text
        subscription = paid.json()["subscription"]
        customer = paid.json()["customer"]
        trial = billing_until(api, lambda b: b["status"] == "trialing", "trialing")
        assert trial["plan"]["key"] == "pro"
        assert trial["trial_end"] is not None
        assert _write(api).status_code == 201

        # The trial ends and the first invoice is paid.
        stack.stripe.v1.subscriptions.update(subscription, params={"trial_end": "now"})
        active = billing_until(api, lambda b: b["status"] == "active", "active after the trial")
        assert active["current_period_end"] is not None

        # A renewal comes due and the card is declined: past_due, the owner is emailed, access stays.
        _card(stack.stripe, customer, DECLINED_CARD)
        stack.stripe.v1.subscriptions.update(
            subscription, params={"billing_cycle_anchor": "now", "proration_behavior": "none"}
        )
        overdue = billing_until(api, lambda b: b["status"] == "past_due", "past_due")
        grace_ends = datetime.fromisoformat(overdue["past_due_since"]).timestamp() + GRACE_SECONDS
        within = _write(api)
        if time.time() < grace_ends - 1:  # a very slow machine may be past it already
            assert within.status_code == 201
        mail = wait_until(lambda: _emails_to(stack.mail, owner.email), timeout=60, interval=0.2)
        assert "payment" in mail[0]["subject"].lower()

        # The grace period runs out: reads go on, writes get 402 with a link to billing.
        time.sleep(max(grace_ends - time.time(), 0) + 0.5)
        refused = _answers(lambda: _write(api), 402)
        error = refused.json()["error"]
        assert error["code"] == "payment_overdue"
        assert error["details"]["billing_url"].endswith("/settings/billing")
        assert api.get("/api/v1/items").status_code == 200

        # Paid again with a new card: full access comes back.
        _card(stack.stripe, customer, GOOD_CARD)
        invoices = stack.stripe.v1.invoices.list(params={"subscription": subscription}).data
        open_invoice = next(i for i in invoices if i.status == "open")
        stack.stripe.v1.invoices.pay(open_invoice.id)
        back = billing_until(api, lambda b: b["status"] == "active", "active after paying")
        assert back["past_due_since"] is None
        _answers(lambda: _write(api), 201)

        # Cancel at period end: access is kept until then.
        stack.stripe.v1.subscriptions.update(subscription, params={"cancel_at_period_end": True})
        ending = billing_until(api, lambda b: b["cancel_at_period_end"], "set to cancel at period end")
        assert (ending["status"], ending["plan"]["key"]) == ("active", "pro")
        assert _write(api).status_code == 201

        # The period ends: Stripe cancels the subscription, and only billing stays open.
        stack.stripe.v1.subscriptions.cancel(subscription)
        gone = billing_until(api, lambda b: b["status"] == "canceled", "canceled")
        assert gone["plan"]["key"] == "free"
        blocked = _answers(lambda: api.get("/api/v1/items"), 402)
        assert blocked.json()["error"]["code"] == "subscription_inactive"
        assert api.post("/api/v1/billing/portal").status_code == 200

    events = _settled(
        sync_db,
        tenant.id,
        {
            "checkout.session.completed",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "invoice.paid",
            "invoice.payment_failed",
        },
    )
    assert {e.status for e in events} == {"processed"}


def _settled(sync_db: Database, tenant_id: uuid.UUID, types: set[str]) -> list[StripeEvent]:
    """The tenant's Stripe events, once those of `types` have arrived and every one is processed."""

    def check() -> list[StripeEvent]:
        with sync_db.sync_session() as session:
            query = select(StripeEvent).where(StripeEvent.tenant_id == tenant_id)
            found = list(session.execute(query).scalars())
        done = types <= {e.type for e in found} and all(e.status == "processed" for e in found)
        return found if done else []

    try:
        return wait_until(check, timeout=60, interval=0.2)
    except AssertionError:
        raise AssertionError(f"events of {sorted(types)} were not all processed") from None


def _emails_to(directory: Path, address: str) -> list[Any]:
    messages = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in directory.glob("*.eml")]
    return [m for m in messages if address in str(m["To"])]


def _stripe_subscription(stack: Stack, subscription: str) -> dict[str, Any]:
    return stack.stripe.v1.subscriptions.retrieve(subscription).to_dict()


def _subscribe(stack: Stack, api: httpx.Client) -> str:
    started = api.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
    assert started.status_code == 200, started.text
    paid = httpx.post(f"{started.json()['url']}/complete", headers={"Authorization": f"Bearer {API_KEY}"})
    assert paid.status_code == 200, paid.text
    billing_until(api, lambda b: b["status"] == "trialing", "trialing")
    return paid.json()["subscription"]


def test_deleting_a_tenant_stops_renewal_restoring_resumes_it_and_purging_cancels(
    stack, settings, sync_db, tenant_service
):
    tenant, _, token = _owner(settings, sync_db, tenant_service)
    headers = {"Host": f"{tenant.slug}.localhost", "Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api.url, headers=headers, timeout=30) as api:
        subscription = _subscribe(stack, api)

    def cancels_at_period_end(expected: bool) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = _stripe_subscription(stack, subscription)
            return found if found["cancel_at_period_end"] is expected else None

        return wait_until(check, timeout=60, interval=0.2)

    # Deleted: no further charge, but the period already paid for is not taken away.
    tenant_service.mark_deleted(tenant.slug)
    ending = cancels_at_period_end(True)
    assert ending["status"] == "trialing"
    assert ending["metadata"]["platform_cancel_reason"] == "tenant_deleted"

    # Restored within the grace period: the subscription renews again.
    tenant_service.resume(tenant.slug)
    renewing = cancels_at_period_end(False)
    assert "platform_cancel_reason" not in renewing["metadata"]

    # A task arriving late, after the tenant was restored, acts on the status now: nothing to cancel.
    late = create_celery(settings, CelerySettings()).send_task(
        BILLING_FOLLOW_TASK, kwargs={"tenant_id": str(tenant.id), "change": "deleted", "at": "late"}
    )
    wait_until(lambda: tasks_ran(sync_db, [late.id]), timeout=60, interval=0.2)
    assert _stripe_subscription(stack, subscription)["cancel_at_period_end"] is False

    # A cancellation the customer chose survives a deletion and a restoration.
    stack.stripe.v1.subscriptions.update(subscription, params={"cancel_at_period_end": True})
    tenant_service.mark_deleted(tenant.slug)
    tenant_service.resume(tenant.slug)
    tenant_service.mark_deleted(tenant.slug)
    wait_until(lambda: tasks_ran(sync_db, _queued(sync_db, tenant.id)), timeout=60, interval=0.2)
    kept = _stripe_subscription(stack, subscription)
    assert kept["cancel_at_period_end"] is True
    assert "platform_cancel_reason" not in kept["metadata"]

    # Purged: the subscription is canceled at once, and Stripe's late events for it still process.
    tenant_service.purge(tenant.slug, force=True)
    wait_until(
        lambda: _stripe_subscription(stack, subscription)["status"] == "canceled", timeout=60, interval=0.2
    )

    events = _settled(sync_db, tenant.id, {"customer.subscription.deleted"})
    assert {e.status for e in events} == {"processed"}


def _queued(sync_db: Database, tenant_id: uuid.UUID) -> list[str]:
    """The ids of the lifecycle tasks queued for a tenant (an outbox row's id is its task id)."""
    with sync_db.sync_session() as session:
        query = select(OutboxMessage.id).where(
            OutboxMessage.task_name == BILLING_FOLLOW_TASK, OutboxMessage.tenant_id == tenant_id
        )
        return [str(i) for i in session.scalars(query)]


def test_the_worker_has_the_task_tenants_queue_for_billing(settings):
    app = create_celery(settings, CelerySettings())
    app.loader.import_default_modules()
    assert BILLING_FOLLOW_TASK in app.tasks
