"""Delivery rules run in this process against the real database (no worker): the target is checked
again at every attempt, the endpoint is disabled after a run of failures or a long one, the order of an
endpoint's events holds for a bounded time, and events exist only when their change commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_core.kernel import events
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import OutboxMessage
from platform_core.webhooks import repository as webhook_repository
from platform_core.webhooks import targets
from platform_core.webhooks.delivery import Deliverer, Wait, choose, retry_delay
from platform_core.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from platform_core.webhooks.settings import WebhookSettings
from tests.support.receiver import Answer, receiver


@pytest.fixture
def tenant(tenant_service: Any, sync_db: Any) -> Any:
    """A committed tenant of the test's own (these tests commit)."""
    from tests.conftest import subscribed

    return subscribed(sync_db, tenant_service.create(slug=f"hooks-{uuid.uuid4().hex[:8]}", name="Hooks"))


def _sessions(sync_db: Any, tenant: Any) -> Any:
    @contextmanager
    def sessions() -> Iterator[Session]:
        with sync_db.sync_session(tenant.schema_name) as session:
            yield session

    return sessions


def _endpoint(sync_db: Any, tenant: Any, url: str) -> uuid.UUID:
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=url, events=["item.created"], secret="whsec_" + "A" * 44)
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add(endpoint)
    return endpoint.id


def _event(sync_db: Any, tenant: Any, title: str) -> list[uuid.UUID]:
    """Record an item.created event and fan it out, as the worker's fan-out task does."""
    data = {
        "id": str(uuid.uuid4()),
        "title": title,
        "description": None,
        "status": "open",
        "tags": [],
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        event_id = events.record_sync(session, "item.created", data, tenant_id=tenant.id)
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        return webhook_repository.fan_out(session, event_id)


def _deliveries(sync_db: Any, tenant: Any, endpoint_id: uuid.UUID) -> list[WebhookDelivery]:
    with sync_db.sync_session(tenant.schema_name) as session:
        stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        return list(session.execute(stmt.order_by(WebhookDelivery.event_seq)).scalars())


def _endpoint_row(sync_db: Any, tenant: Any, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    with sync_db.sync_session(tenant.schema_name) as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


def test_a_private_target_is_refused_at_delivery_too(sync_db, tenant):
    """An endpoint whose address is private when a delivery is attempted (registered when it was not,
    or DNS changed since) gets a failed attempt; nothing is sent."""
    with receiver() as server:
        endpoint_id = _endpoint(sync_db, tenant, server.url("/private").replace("http://", "https://"))
        _event(sync_db, tenant, "never sent")
        settings = WebhookSettings(allow_private_targets=False, retry_schedule="60")
        Deliverer(_sessions(sync_db, tenant), tenant, endpoint_id, settings).run()
        assert server.got("/private") == []
    [delivery] = _deliveries(sync_db, tenant, endpoint_id)
    assert delivery.attempts == 1
    assert delivery.status == DeliveryStatus.PENDING.value  # it will be tried again, and refused again
    assert delivery.error is not None
    assert "loopback" in delivery.error


def test_failures_in_a_row_disable_the_endpoint(sync_db, tenant):
    with receiver() as server:
        server.script("/down", Answer(500))
        endpoint_id = _endpoint(sync_db, tenant, server.url("/down"))
        for n in range(3):
            _event(sync_db, tenant, f"event {n}")
        settings = WebhookSettings(
            allow_private_targets=True,
            retry_schedule="0,0,0",
            disable_after_failures=3,
            ordering_hold_seconds=0,
        )
        Deliverer(_sessions(sync_db, tenant), tenant, endpoint_id, settings).run()
        attempts = len(server.got("/down"))
    endpoint = _endpoint_row(sync_db, tenant, endpoint_id)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "3 attempts in a row failed"
    assert attempts == 3


def test_a_long_run_of_failures_disables_the_endpoint(sync_db, tenant):
    with receiver() as server:
        server.script("/long", Answer(503))
        endpoint_id = _endpoint(sync_db, tenant, server.url("/long"))
        with sync_db.sync_session(tenant.schema_name) as session, session.begin():
            row = session.get(WebhookEndpoint, endpoint_id)
            assert row is not None
            row.failing_since = utcnow() - timedelta(days=5, minutes=1)
            row.failures_in_a_row = 40
        _event(sync_db, tenant, "the last straw")
        settings = WebhookSettings(allow_private_targets=True, retry_schedule="60")
        Deliverer(_sessions(sync_db, tenant), tenant, endpoint_id, settings).run()
    endpoint = _endpoint_row(sync_db, tenant, endpoint_id)
    assert endpoint.enabled is False
    assert endpoint.disabled_reason is not None
    assert endpoint.disabled_reason.startswith("every attempt failed since")


def test_a_success_clears_the_failure_record(sync_db, tenant):
    with receiver() as server:
        endpoint_id = _endpoint(sync_db, tenant, server.url("/fine"))
        with sync_db.sync_session(tenant.schema_name) as session, session.begin():
            row = session.get(WebhookEndpoint, endpoint_id)
            assert row is not None
            row.failing_since, row.failures_in_a_row = utcnow() - timedelta(hours=1), 7
        _event(sync_db, tenant, "healthy again")
        Deliverer(
            _sessions(sync_db, tenant), tenant, endpoint_id, WebhookSettings(allow_private_targets=True)
        ).run()
    endpoint = _endpoint_row(sync_db, tenant, endpoint_id)
    assert (endpoint.failing_since, endpoint.failures_in_a_row) == (None, 0)


def test_an_event_of_a_rolled_back_change_leaves_nothing(sync_db, tenant):
    with sync_db.sync_session(tenant.schema_name) as session:
        event_id = events.record_sync(
            session, "item.deleted", {"id": str(uuid.uuid4()), "title": "x"}, tenant_id=tenant.id
        )
        session.rollback()
    with sync_db.sync_session(tenant.schema_name) as session:
        assert session.get(events.DomainEvent, event_id) is None
    with sync_db.sync_session() as session:
        sent = session.execute(
            select(OutboxMessage.kwargs).where(OutboxMessage.tenant_id == tenant.id)
        ).scalars()
        assert all(k.get("event_id") != event_id for k in sent)


def test_an_event_is_checked_against_its_schema():
    with pytest.raises(ValueError, match="unknown event type"):
        events._row("item.exploded", {})
    with pytest.raises(ValueError, match="title"):
        events._row("item.deleted", {"id": str(uuid.uuid4())})


def test_a_delivery_waits_for_an_earlier_event_not_yet_handed_out(sync_db, tenant):
    """Fan-outs may run in any order: a later event's delivery waits until every earlier event has been
    handed out, so it can never overtake one that is about to appear."""
    endpoint_id = _endpoint(sync_db, tenant, "https://hooks.example.org/in")
    data = {"id": str(uuid.uuid4()), "title": "t"}
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        first = events.record_sync(session, "item.deleted", data, tenant_id=tenant.id)
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        second = events.record_sync(
            session,
            "item.created",
            {
                **data,
                "description": None,
                "status": "open",
                "tags": [],
                "created_at": utcnow(),
                "updated_at": utcnow(),
            },
            tenant_id=tenant.id,
        )
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        assert webhook_repository.fan_out(session, second) == [endpoint_id]
    with sync_db.sync_session(tenant.schema_name) as session:
        assert webhook_repository.pending_in_order(session, endpoint_id) == []  # `first` is not handed out
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        webhook_repository.fan_out(session, first)  # not subscribed: no delivery, but handed out
    with sync_db.sync_session(tenant.schema_name) as session:
        assert [d.event_id for d in webhook_repository.pending_in_order(session, endpoint_id)] == [second]


def _row(seq: int, *, due_in: float | None, first_attempt_ago: float | None) -> WebhookDelivery:
    now = utcnow()
    return WebhookDelivery(
        event_seq=seq,
        next_attempt_at=None if due_in is None else now + timedelta(seconds=due_in),
        first_attempt_at=None if first_attempt_ago is None else now - timedelta(seconds=first_attempt_ago),
    )


def test_order_holds_behind_a_retrying_delivery_for_the_hold_time_only():
    hold = timedelta(hours=1)
    now = utcnow()
    retrying = _row(1, due_in=300, first_attempt_ago=60)
    later = _row(2, due_in=None, first_attempt_ago=None)
    waiting = choose([retrying, later], hold, now)
    assert isinstance(waiting, Wait)
    assert waiting.until == retrying.next_attempt_at
    stale = _row(1, due_in=300, first_attempt_ago=2 * 3600)  # failing for longer than the hold
    assert choose([stale, later], hold, now) is later
    assert choose([_row(1, due_in=-1, first_attempt_ago=10), later], hold, now).event_seq == 1  # type: ignore[union-attr]


def test_the_retry_schedule_has_jitter_and_an_end():
    settings = WebhookSettings(retry_schedule="5,300,1800")
    delays = {round(retry_delay(settings, 2, None) or 0) for _ in range(20)}
    assert all(240 <= d <= 360 for d in delays)
    assert len(delays) > 1
    assert retry_delay(settings, 4, None) is None
    assert retry_delay(settings, 1, 120.0) == 120.0  # Retry-After replaces the schedule's delay
    assert retry_delay(settings, 1, 10**9) == 36000.0  # ... up to ten hours


def test_a_name_that_resolves_to_loopback_is_refused():
    with pytest.raises(targets.TargetRefused, match="loopback"):
        targets.resolve("https://localhost:8443/in", allow_private=False)
    target = targets.resolve("http://localhost:8443/in?x=1", allow_private=True)
    assert target.host_header == "localhost:8443"
    assert target.connect_url.endswith(":8443/in?x=1")
    assert target.address in ("127.0.0.1", "::1")


def test_a_large_answer_is_read_in_part_and_logged_in_part(sync_db, tenant):
    with receiver() as server:
        server.script("/big", Answer(200, body=b"x" * 300_000))
        endpoint_id = _endpoint(sync_db, tenant, server.url("/big"))
        _event(sync_db, tenant, "big answer")
        Deliverer(
            _sessions(sync_db, tenant), tenant, endpoint_id, WebhookSettings(allow_private_targets=True)
        ).run()
    [delivery] = _deliveries(sync_db, tenant, endpoint_id)
    assert delivery.status == DeliveryStatus.SUCCEEDED.value
    assert delivery.response_body == "x" * 2048
