"""Per-seat plans: removing or adding members queues a quantity update, which Stripe then bills."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from billing import seats
from billing.models import BillingAccount, BillingPlan
from billing.tasks import sync_seats_task, sync_subscription
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.outbox import OutboxMessage
from tests.conftest import owner_client, subscribed
from tests.factories import UserFactory
from tests.support.billing import run_task


@pytest.fixture
def business(stripe_client, tenant_service, sync_db):
    """A committed tenant on the per-seat business plan, subscribed in localstripe for one seat."""
    tenant = tenant_service.create(slug=f"seat-{uuid.uuid4().hex[:8]}", name="Seats")
    product = stripe_client.v1.products.create(params={"name": "Business"})
    plan = stripe_client.v1.plans.create(
        params={
            "id": f"price_{uuid.uuid4().hex[:12]}",
            "product": product.id,
            "amount": 1500,
            "currency": "usd",
            "interval": "month",
        }
    )
    token = stripe_client.v1.tokens.create(
        params={"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
    )
    customer = stripe_client.v1.customers.create(params={"email": "seats@example.com", "source": token.id})
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id, "quantity": 1}]}
    )
    values = {
        "name": "Business",
        "catalog_version": 1,
        "stripe_product_id": product.id,
        "stripe_price_monthly": plan.id,
        "stripe_price_yearly": None,
    }
    with sync_db.sync_session() as session, session.begin():
        session.execute(
            insert(BillingPlan)
            .values(key="business", **values)
            .on_conflict_do_update(index_elements=["key"], set_=values)
        )
    context = subscribed(sync_db, tenant, plan="business", status="active")
    with sync_db.sync_session() as session, session.begin():
        account = session.get(BillingAccount, tenant.id)
        account.stripe_customer_id, account.stripe_subscription_id = customer.id, sub.id
    return SimpleNamespace(tenant=tenant, context=context, subscription=sub.id, client=stripe_client)


def test_the_quantity_follows_the_member_count(business, sync_db):
    with sync_db.sync_session(business.tenant.schema_name) as session, session.begin():
        session.add_all(UserFactory.build(role_id=builtin_role_id("member")) for _ in range(3))
    with sync_db.sync_session() as session, session.begin():
        account = session.get(BillingAccount, business.tenant.id, with_for_update=True)
        assert seats.sync_seats(session, business.client, account, run_id="first") == 3
        assert seats.sync_seats(session, business.client, account, run_id="second") is None  # already right
    item = business.client.v1.subscriptions.retrieve(business.subscription).to_dict()["items"]["data"][0]
    assert item["quantity"] == 3


def stripe_quantity(business) -> int:
    """The quantity Stripe bills for the business subscription."""
    return business.client.v1.subscriptions.retrieve(business.subscription).to_dict()["items"]["data"][0][
        "quantity"
    ]


def account_quantity(sync_db, business) -> int | None:
    """The quantity the billing account records."""
    with sync_db.sync_session() as session:
        return session.get(BillingAccount, business.tenant.id).quantity


def set_active_members(sync_db, business, count: int) -> None:
    """Make exactly `count` of the tenant's members active (creating members as needed)."""
    with sync_db.sync_session(business.tenant.schema_name) as session, session.begin():
        users = session.scalars(select(User).order_by(User.email)).all()
        for _ in range(count - len(users)):
            session.add(UserFactory.build(role_id=builtin_role_id("member")))
        for n, user in enumerate(users):
            user.is_active = n < count


def test_a_quantity_sent_before_reaches_stripe_again(business, sync_db, settings, monkeypatch):
    # Stripe replays the first answer to an idempotency key for 24 hours: a key naming only the
    # quantity made 3 -> 4 -> 3 -> 4 end at 3 in Stripe while the platform recorded 4.
    for count in (3, 4, 3, 4):
        set_active_members(sync_db, business, count)
        assert run_task(sync_seats_task, settings, monkeypatch, tenant_id=str(business.tenant.id)) == count
        assert (stripe_quantity(business), account_quantity(sync_db, business)) == (count, count)


def test_reconciliation_sends_the_members_in_use_to_stripe(business, sync_db, settings, monkeypatch):
    set_active_members(sync_db, business, 4)
    run_task(sync_seats_task, settings, monkeypatch, tenant_id=str(business.tenant.id))
    item = business.client.v1.subscriptions.retrieve(business.subscription).to_dict()["items"]["data"][0]
    # Stripe's quantity drifts (a change in the dashboard, an update lost on the way).
    business.client.v1.subscription_items.update(item["id"], params={"quantity": 3})
    run_task(sync_subscription, settings, monkeypatch, tenant_id=str(business.tenant.id))
    assert (stripe_quantity(business), account_quantity(sync_db, business)) == (4, 4)
    set_active_members(sync_db, business, 2)  # a seat update that never ran: reconciliation catches up
    run_task(sync_subscription, settings, monkeypatch, tenant_id=str(business.tenant.id))
    assert (stripe_quantity(business), account_quantity(sync_db, business)) == (2, 2)


async def test_removing_a_member_queues_a_seat_update(business, live_app, settings, sync_db):
    member = UserFactory.build(role_id=builtin_role_id("member"))
    with sync_db.sync_session(business.tenant.schema_name) as session, session.begin():
        session.add(member)
    async with owner_client(live_app, settings, sync_db, business.tenant) as client:
        assert (await client.delete(f"/api/v1/members/{member.id}")).status_code == 204
    with sync_db.sync_session() as session:
        queued = (
            session.execute(select(OutboxMessage.kwargs).where(OutboxMessage.task_name == seats.SEATS_TASK))
            .scalars()
            .all()
        )
    assert {"tenant_id": str(business.tenant.id)} in queued


@pytest.mark.parametrize(
    ("plan", "status", "subscription", "expected"),
    [
        ("business", "active", "sub_1", True),
        ("business", "trialing", "sub_1", True),
        ("pro", "active", "sub_1", False),  # a flat price: its quantity stays 1
        ("business", "canceled", "sub_1", False),
        ("business", "active", None, False),
        ("retired-plan", "active", "sub_1", False),
    ],
)
def test_only_a_live_per_seat_subscription_follows_the_members(plan, status, subscription, expected):
    account = BillingAccount(
        tenant_id=uuid.uuid4(), plan_key=plan, status=status, stripe_subscription_id=subscription
    )
    assert seats.pays_per_seat(account) is expected
