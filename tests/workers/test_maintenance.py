"""Periodic work: fan-out spread over the period, cleanup of outbox rows, task runs and jobs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

from platform_core.jobs.models import Job
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import OutboxMessage
from tests.support.processes import tasks_ran, wait_until
from workers.fanout import fan_out
from workers.models import TaskRun
from workers.schedule import BEAT_SCHEDULE


def test_fan_out_enqueues_one_task_per_active_tenant_spread_over_the_period(
    sync_db, tenant_service, tenant_a, tenant_b
):
    suspended = tenant_service.create(slug=f"fan-{uuid.uuid4().hex[:8]}", name="Fan")
    tenant_service.suspend(suspended.slug, reason="test")
    with sync_db.sync_session() as session:
        active = session.scalar(text("SELECT count(*) FROM public.tenant WHERE status = 'active'"))
        count = fan_out(session, "maintenance.cleanup_jobs", period_seconds=3600)
        rows = session.execute(
            select(OutboxMessage.tenant_id, OutboxMessage.available_at - func.now())
            .where(OutboxMessage.task_name == "maintenance.cleanup_jobs")
            .order_by(OutboxMessage.available_at)
        ).all()
        session.rollback()
    assert count == active >= 2
    assert len(rows) == count
    assert suspended.id not in {tenant_id for tenant_id, _ in rows}
    offsets = [delay.total_seconds() for _, delay in rows]
    assert offsets[0] < 1
    assert offsets[-1] > 3600 * (count - 1) / count - 5  # the last one starts near the end of the period
    assert offsets == sorted(offsets)


def test_beat_schedule_names_registered_tasks(celery):
    for entry in BEAT_SCHEDULE.values():
        assert entry["task"] in celery.tasks


def test_cleanup_outbox_deletes_only_old_published_rows_and_runs(sync_db, celery, worker):
    old, recent, pending = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    long_ago = utcnow() - timedelta(days=30)
    with sync_db.sync_session() as session:
        session.add_all(
            [
                OutboxMessage(id=old, task_name="x.y", kwargs={}, published_at=long_ago),
                OutboxMessage(id=recent, task_name="x.y", kwargs={}, published_at=utcnow()),
                OutboxMessage(
                    id=pending, task_name="x.y", kwargs={}, available_at=utcnow() + timedelta(days=9)
                ),
                TaskRun(task_id=f"old-{old}", task_name="x.y", finished_at=long_ago),
            ]
        )
        session.commit()
    celery.send_task("maintenance.cleanup_outbox")

    def cleaned() -> bool:
        with sync_db.sync_session() as session:
            return session.get(OutboxMessage, old) is None and session.get(TaskRun, f"old-{old}") is None

    wait_until(cleaned)
    with sync_db.sync_session() as session:
        assert session.get(OutboxMessage, recent) is not None
        assert session.get(OutboxMessage, pending) is not None


def test_cleanup_jobs_deletes_old_finished_jobs_of_that_tenant_only(
    sync_db, celery, worker, live_tenant, tenant_b
):
    long_ago = utcnow() - timedelta(days=90)
    old, running, fresh, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with sync_db.sync_session(live_tenant.schema_name) as session:
        session.add_all(
            [
                Job(id=old, type="t", status="succeeded", params={}, finished_at=long_ago),
                Job(id=running, type="t", status="running", params={}),
                Job(id=fresh, type="t", status="failed", params={}, finished_at=utcnow()),
            ]
        )
        session.commit()
    with sync_db.sync_session(tenant_b.schema_name) as session:
        session.add(Job(id=other, type="t", status="succeeded", params={}, finished_at=long_ago))
        session.commit()
    celery.send_task("maintenance.cleanup_jobs", kwargs={"tenant_id": str(live_tenant.id)})

    def gone() -> bool:
        with sync_db.sync_session(live_tenant.schema_name) as session:
            return session.get(Job, old) is None

    wait_until(gone)
    with sync_db.sync_session(live_tenant.schema_name) as session:
        assert session.get(Job, running) is not None
        assert session.get(Job, fresh) is not None
    with sync_db.sync_session(tenant_b.schema_name) as session:
        assert session.get(Job, other) is not None  # another tenant's old job is not touched
        session.delete(session.get(Job, other))
        session.commit()


def test_without_object_storage_the_file_tasks_do_nothing_and_finish(sync_db, celery, worker, live_tenant):
    sent = [
        celery.send_task("uploads.purge_tenant_files", kwargs={"tenant_id": str(uuid.uuid4())}),
        celery.send_task("uploads.cleanup_expired", kwargs={"tenant_id": str(live_tenant.id)}),
        celery.send_task("reports.cleanup", kwargs={"tenant_id": str(live_tenant.id)}),
    ]

    # They run to their commit: no retry waiting for a storage that is not there.
    wait_until(lambda: tasks_ran(sync_db, [s.id for s in sent]))
