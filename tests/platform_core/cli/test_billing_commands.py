"""`platformctl billing replay-events` against the worker's database: the same replay as the operator
API's, recorded in the operator log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from billing.models import StripeEvent
from platform_core.kernel.outbox import OutboxMessage
from platform_core.operators.models import OperatorAction


@pytest.fixture
def events(sync_db):
    """A parked and a failed event, committed; deleted (with what replaying them wrote) afterwards."""
    ids = {status: f"evt_cli_{status}_{uuid.uuid4().hex[:10]}" for status in ("parked", "failed")}
    with sync_db.sync_session() as session, session.begin():
        for status, event_id in ids.items():
            session.add(
                StripeEvent(
                    id=event_id,
                    type="invoice.paid",
                    created=datetime.now(UTC),
                    payload={},
                    status=status,
                    attempts=8,
                    last_error="EventNotReady",
                )
            )
    yield ids
    with sync_db.sync_session() as session, session.begin():
        session.execute(delete(StripeEvent).where(StripeEvent.id.in_(ids.values())))
        for event_id in ids.values():
            session.execute(delete(OutboxMessage).where(OutboxMessage.kwargs["event_id"].astext == event_id))


def test_replay_events_queues_parked_events_and_is_logged(run_cli, sync_db, events):
    result = run_cli("billing", "replay-events", "--event", events["parked"], "--event", events["failed"])
    assert result.exit_code == 0, result.output
    assert "queued 1 event(s) again" in result.output
    with sync_db.sync_session() as session:
        assert session.get(StripeEvent, events["parked"]).status == "pending"
        assert session.get(StripeEvent, events["failed"]).status == "failed"
        logged = session.scalars(
            select(OperatorAction).where(OperatorAction.action == "billing.events_replayed")
        ).all()
    [entry] = [e for e in logged if e.details["event_ids"] == [events["parked"]]]
    assert (entry.actor_label, entry.operator_id) == ("platformctl", None)
    again = run_cli("billing", "replay-events", "--event", events["failed"], "--include-failed")
    assert "queued 1 event(s) again" in again.output
