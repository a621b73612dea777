"""Outbox to worker with real processes: commit runs, rollback does not, crashes lose nothing."""

from __future__ import annotations

import uuid

import redis
from sqlalchemy import func, select, text

from platform_core.items.models import Item
from platform_core.kernel.outbox import OutboxMessage, enqueue
from tests.support.processes import wait_until
from workers.models import TaskRun


def _items_titled(sync_db, tenant, title: str) -> int:
    with sync_db.sync_session(tenant.schema_name) as session:
        return int(session.scalar(select(func.count()).select_from(Item).where(Item.title == title)) or 0)


def _starts(settings, marker: str) -> int:
    return int(redis.Redis.from_url(settings.redis_url).get(f"probe:starts:{marker}") or 0)


def _enqueue_committed(sync_db, task: str, **kwargs) -> uuid.UUID:
    with sync_db.sync_session() as session:
        message_id = enqueue(session, task, **kwargs)
        session.commit()
    return message_id


def test_commit_runs_the_task_once(sync_db, settings, live_tenant, relay, worker):
    marker = f"commit-{uuid.uuid4().hex[:8]}"
    message_id = _enqueue_committed(sync_db, "probe.effect", tenant_id=live_tenant.id, marker=marker)
    wait_until(lambda: _items_titled(sync_db, live_tenant, marker) == 1)
    with sync_db.sync_session() as session:
        run = session.get(TaskRun, str(message_id))
        row = session.get(OutboxMessage, message_id)
    assert run is not None
    assert run.tenant_id == live_tenant.id
    assert row is not None
    assert row.published_at is not None
    assert _starts(settings, marker) == 1


def test_rollback_enqueues_nothing(sync_db, settings, live_tenant, relay, worker):
    lost, kept = f"lost-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    with sync_db.sync_session() as session:
        rolled_back = enqueue(session, "probe.effect", tenant_id=live_tenant.id, marker=lost)
        session.rollback()
    _enqueue_committed(sync_db, "probe.effect", tenant_id=live_tenant.id, marker=kept)
    wait_until(lambda: _items_titled(sync_db, live_tenant, kept) == 1)  # the sentinel, enqueued after
    with sync_db.sync_session() as session:
        assert session.get(OutboxMessage, rolled_back) is None
    assert _items_titled(sync_db, live_tenant, lost) == 0
    assert _starts(settings, lost) == 0


def test_duplicate_delivery_runs_the_effect_once(sync_db, settings, live_tenant, relay, celery, worker):
    since = worker.mark()
    marker = f"dup-{uuid.uuid4().hex[:8]}"
    message_id = _enqueue_committed(sync_db, "probe.effect", tenant_id=live_tenant.id, marker=marker)
    wait_until(lambda: _items_titled(sync_db, live_tenant, marker) == 1)
    # The relay crashed after publishing but before marking the row: the same task id comes again.
    celery.send_task(
        "probe.effect", kwargs={"tenant_id": str(live_tenant.id), "marker": marker}, task_id=str(message_id)
    )
    wait_until(lambda: "duplicate delivery ignored" in worker.output(since))
    assert _items_titled(sync_db, live_tenant, marker) == 1
    assert _starts(settings, marker) == 1


def test_task_for_unknown_tenant_is_dropped_not_retried(sync_db, settings, relay, worker):
    ghost = uuid.uuid4()
    marker = f"ghost-{uuid.uuid4().hex[:8]}"
    _enqueue_committed(sync_db, "probe.effect", tenant_id=ghost, marker=marker)
    wait_until(lambda: f"tenant {ghost} does not exist" in worker.output())
    assert worker.output().count(f"tenant {ghost} does not exist") == 1
    assert _starts(settings, marker) == 0


def test_task_for_suspended_tenant_is_dropped(sync_db, settings, tenant_service, relay, worker):
    tenant = tenant_service.create(slug=f"susp-{uuid.uuid4().hex[:8]}", name="Susp")
    tenant_service.suspend(tenant.slug, reason="test")
    marker = f"susp-{uuid.uuid4().hex[:8]}"
    _enqueue_committed(sync_db, "probe.effect", tenant_id=tenant.id, marker=marker)
    wait_until(lambda: f"tenant {tenant.slug} is suspended" in worker.output())
    assert _starts(settings, marker) == 0


def test_tenant_task_without_tenant_fails_closed(celery, settings, worker):
    marker = f"nobody-{uuid.uuid4().hex[:8]}"
    celery.send_task("probe.effect", kwargs={"marker": marker})
    wait_until(lambda: "TenantNotBoundError" in worker.output())
    assert _starts(settings, marker) == 0


def test_unknown_task_name_is_parked_with_an_error(sync_db, relay):
    message_id = _enqueue_committed(sync_db, "nope.missing", anything=1)

    def parked() -> bool:
        with sync_db.sync_session() as session:
            row = session.get(OutboxMessage, message_id)
            return row is not None and row.last_error is not None

    wait_until(parked)
    with sync_db.sync_session() as session:
        row = session.get(OutboxMessage, message_id)
        in_future = session.scalar(
            text("SELECT available_at > now() FROM public.outbox WHERE id = :i"), {"i": message_id}
        )
    assert row.published_at is None
    assert "unknown task" in row.last_error
    assert in_future
