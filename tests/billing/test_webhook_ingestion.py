"""POST /webhooks/stripe: signature checked on the raw body, events stored once and queued."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from billing.models import StripeEvent
from billing.settings import get_billing_settings
from platform_core.kernel.outbox import OutboxMessage
from tests.conftest import BASE_DOMAIN, client_for, host_of

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload` (t=..., v1=HMAC-SHA256 of "t.payload")."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def event(event_type: str = "customer.subscription.updated", **obj: object) -> dict:
    """A minimal Stripe event."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"object": "subscription", "id": "sub_123", "customer": "cus_123", **obj}},
    }


@pytest.fixture
def webhook_secrets(monkeypatch):
    """Configure the endpoint's signing secrets (current first, then the one being rotated out)."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{SECRET},{OLD_SECRET}")
    get_billing_settings.cache_clear()
    yield
    get_billing_settings.cache_clear()


@pytest.fixture
async def stripe_host(app):
    """A client on the platform's apex host, where Stripe posts its webhooks."""
    async with client_for(app, BASE_DOMAIN) as client:
        yield client


async def post(client, body: bytes, signature: str | None):
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def stored(db, body: bytes) -> list[tuple[str, str]]:
    """The stored rows of the event in `body` (other tests commit events of their own)."""
    event_id = json.loads(body)["id"]
    async with db.session(None) as session:
        rows = await session.execute(select(StripeEvent).where(StripeEvent.id == event_id))
        return [(r.id, r.status) for r in rows.scalars()]


async def queued(db, body: bytes) -> list[dict]:
    """The processing tasks queued for the event in `body`."""
    event_id = json.loads(body)["id"]
    async with db.session(None) as session:
        rows = await session.execute(
            select(OutboxMessage.kwargs).where(OutboxMessage.task_name == "billing.process_event")
        )
        return [k for k in rows.scalars() if k.get("event_id") == event_id]


async def test_a_signed_event_is_stored_once_and_queued(webhook_secrets, stripe_host, db):
    body = json.dumps(event()).encode()
    first = await post(stripe_host, body, sign(body))
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False}
    again = await post(stripe_host, body, sign(body))
    assert again.json() == {"received": True, "duplicate": True}
    event_id = json.loads(body)["id"]
    assert await stored(db, body) == [(event_id, "pending")]
    assert await queued(db, body) == [{"event_id": event_id}]


async def test_the_previous_secret_still_verifies_during_rotation(webhook_secrets, stripe_host, db):
    body = json.dumps(event()).encode()
    assert (await post(stripe_host, body, sign(body, OLD_SECRET))).status_code == 200


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        sign(b"another body"),
        sign(b"x", secret="whsec_attacker"),
    ],
    ids=["missing", "garbage", "other-body", "wrong-secret"],
)
async def test_a_bad_signature_is_400_and_stores_nothing(webhook_secrets, stripe_host, db, signature):
    body = json.dumps(event()).encode()
    response = await post(stripe_host, body, signature)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert await stored(db, body) == []
    assert await queued(db, body) == []


async def test_a_stale_but_correctly_signed_event_is_refused(webhook_secrets, stripe_host, db):
    body = json.dumps(event()).encode()
    response = await post(stripe_host, body, sign(body, timestamp=int(time.time()) - 3600))
    assert response.status_code == 400
    assert await stored(db, body) == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", json.dumps({"id": "evt_1"}).encode(), "caf\xe9".encode("latin-1")]
)
async def test_a_signed_body_that_is_not_an_event_is_400(webhook_secrets, stripe_host, db, body):
    before = await count_events(db)
    response = await post(stripe_host, body, sign(body))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_event"
    assert await count_events(db) == before


async def count_events(db) -> int:
    """How many events are stored (committed by other tests, or in this test's transaction)."""
    async with db.session(None) as session:
        return int((await session.execute(select(func.count()).select_from(StripeEvent))).scalar_one())


async def test_the_endpoint_is_off_without_a_secret(monkeypatch, stripe_host):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    get_billing_settings.cache_clear()
    try:
        body = json.dumps(event()).encode()
        response = await post(stripe_host, body, sign(body))
    finally:
        get_billing_settings.cache_clear()
    assert response.status_code == 404


async def test_the_endpoint_is_not_served_on_tenant_hosts(webhook_secrets, app, tenant_a, db):
    body = json.dumps(event()).encode()
    async with client_for(app, host_of(tenant_a)) as client:
        response = await post(client, body, sign(body))
    assert response.status_code == 404
    assert await stored(db, body) == []
