"""The warm pool's beat task, run by a real worker: it tops the pool up to TENANT_SCHEMA_POOL_SIZE."""

from __future__ import annotations

from platform_core.kernel.db.alembic_config import head_revision
from tenants import pool as schema_pool
from tests.support.processes import tasks_ran, wait_until
from workers.schedule import BEAT_SCHEDULE
from workers.schema_pool import TOP_UP_TASK


def test_beat_tops_the_pool_up(settings, sync_db, celery, start_worker):
    assert BEAT_SCHEDULE["schema-pool-top-up"]["task"] == TOP_UP_TASK
    start_worker("pool", extra_env={"TENANT_SCHEMA_POOL_SIZE": "2"})
    head = head_revision(settings.migrations_dir, "tenant")
    with sync_db.sync_engine.begin() as conn:
        schema_pool.drain(conn)
    try:
        first = celery.send_task(TOP_UP_TASK)
        wait_until(lambda: tasks_ran(sync_db, [first.id]))
        second = celery.send_task(TOP_UP_TASK)  # already full: builds nothing more
        wait_until(lambda: tasks_ran(sync_db, [second.id]))
        with sync_db.sync_engine.connect() as conn:
            assert schema_pool.status(conn, settings) == schema_pool.PoolStatus(head, ready=2, behind=0)
    finally:
        with sync_db.sync_engine.begin() as conn:
            schema_pool.drain(conn)
