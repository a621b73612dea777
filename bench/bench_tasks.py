"""Tasks used only by the benchmarks, loaded by the benchmark's worker via CELERY_EXTRA_TASK_MODULES."""

from __future__ import annotations

import os
import time

import redis

from workers.base import TaskContext, platform_task

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _client


@platform_task("bench.noop")
def noop(ctx: TaskContext, *, marker: str) -> None:
    """Record when the task started (wall clock) and count it."""
    pipe = _redis().pipeline()
    pipe.rpush(f"bench:started:{marker}", repr(time.time()))
    pipe.incr("bench:done")
    pipe.execute()
