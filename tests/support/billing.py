"""Stripe events in tests: store one as the webhook would and apply it with the platform's processing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from celery import Task

from billing import events
from billing.models import StripeEvent
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings, get_settings
from workers import database as worker_database


def apply_stripe_event(
    sync_db: Database, settings: Settings, client: stripe.StripeClient, payload: dict[str, Any]
) -> uuid.UUID | None:
    """Store `payload` (an event object) once and apply it in one transaction; return its tenant.

    An event already stored is left alone (None), as the webhook endpoint acknowledges a duplicate.
    """
    with sync_db.sync_session() as session, session.begin():
        if session.get(StripeEvent, payload["id"]) is not None:
            return None
        row = StripeEvent(
            id=payload["id"],
            type=payload["type"],
            created=datetime.fromtimestamp(payload["created"], UTC),
            payload=payload,
            status="pending",
            attempts=0,
        )
        session.add(row)
        session.flush()
        tenant_id = events.apply_event(session, client, row, settings)
        row.status = "processed"
    return tenant_id


def event_payload(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A new Stripe event object of `event_type` about `obj`."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj},
    }


def run_task(task: Task, settings: Settings, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    """Run a task in this process as a worker runs it (its own session and commit, a new task id)
    against this test worker's database; return its result, or raise its error."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setattr(worker_database, "_db", None)
    get_settings.cache_clear()
    try:
        return task.apply(kwargs=kwargs, task_id=str(uuid.uuid4())).get(disable_sync_subtasks=False)
    finally:
        if worker_database._db is not None:
            worker_database._db.dispose_sync()
        get_settings.cache_clear()
