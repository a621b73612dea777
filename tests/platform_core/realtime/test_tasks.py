"""The realtime task is one the workers know, and recording an item event writes it with the event."""

from __future__ import annotations

from sqlalchemy import select

from platform_core.kernel.events import FAN_OUT_TASK, REALTIME_TASK, record_sync
from platform_core.kernel.outbox import OutboxMessage


def test_the_workers_know_the_realtime_task(celery):
    assert REALTIME_TASK in celery.tasks


def test_an_item_event_is_written_with_its_realtime_task_and_a_member_event_without(sync_db, tenant_a):
    item = {
        "id": "00000000-0000-0000-0000-000000000001",
        "title": "t",
        "description": None,
        "status": "open",
        "tags": [],
        "created_at": "2026-12-04T00:00:00Z",
        "updated_at": "2026-12-04T00:00:00Z",
    }
    member = {"user_id": "00000000-0000-0000-0000-000000000002", "email": "a@example.org", "role": "member"}
    with sync_db.sync_session(tenant_a.schema_name) as session:
        item_event = record_sync(session, "item.created", item, tenant_id=tenant_a.id)
        member_event = record_sync(session, "member.joined", member, tenant_id=tenant_a.id)
        session.flush()
        rows = session.execute(select(OutboxMessage.task_name, OutboxMessage.kwargs)).all()
        tasks = {(name, kwargs["event_id"]) for name, kwargs in rows if "event_id" in (kwargs or {})}
        session.rollback()
    assert {(FAN_OUT_TASK, item_event), (REALTIME_TASK, item_event), (FAN_OUT_TASK, member_event)} <= tasks
    assert (REALTIME_TASK, member_event) not in tasks
