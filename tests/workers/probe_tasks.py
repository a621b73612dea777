"""Tasks that exist only in tests: loaded by the test worker through CELERY_EXTRA_TASK_MODULES."""

from __future__ import annotations

import os
import time

import redis

from platform_core.items.models import Item
from platform_core.jobs.tracker import JobTracker, job_task
from workers.base import TaskContext, tenant_task


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@tenant_task("probe.effect")
def effect(ctx: TaskContext, *, marker: str, hold_seconds: float = 0.0) -> None:
    """Count the start in Redis (outside the transaction), write an item; the first run may hold."""
    starts = _redis().incr(f"probe:starts:{marker}")
    ctx.session.add(Item(title=marker, tags=["probe"]))
    ctx.session.flush()
    deadline = time.monotonic() + (hold_seconds if starts == 1 else 0)
    while time.monotonic() < deadline:  # a long task: the test kills its worker meanwhile
        time.sleep(0.05)


@job_task("probe.job_progress")
def job_progress(ctx: TaskContext, job: JobTracker, *, steps: list[int]) -> None:
    """Report each step's progress, as a long job does."""
    for percent in steps:
        job.progress(percent)
