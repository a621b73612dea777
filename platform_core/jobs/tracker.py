"""How a task works for a job: marks it running, reports progress, and records how it ended.

Progress and failures are written in short side transactions of the tracker's own (a session it opens
and commits), so they are visible while the task runs and survive the task's rollback; success is
written in the task's own transaction, so it is recorded only if the task's work commits.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import Retry
from sqlalchemy import event

from platform_core.jobs import repository as job_repository
from platform_core.jobs.exceptions import JobNotFound
from platform_core.jobs.models import JobStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.realtime import publish_best_effort
from platform_core.kernel.settings import get_settings
from workers.base import TaskContext, tenant_task


class JobTracker:
    """Handed to a task: reports progress now, and the outcome with the task's own transaction."""

    def __init__(self, ctx: TaskContext, job_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.user_id = user_id
        self.result_url: str | None = None

    def progress(self, percent: int) -> None:
        """Record progress at once (its own short transaction), clamped to 0-100; tell the job's user."""
        value = max(0, min(100, int(percent)))
        with self.ctx.db.sync_session(self.ctx.schema) as side:
            job_repository.set_fields(side, job_id=self.job_id, progress=value)
            side.commit()
        self.announce("job.progress", status=JobStatus.RUNNING.value, progress=value)

    def announce(self, event_name: str, **data: object) -> None:
        """Publish a job event on the tenant's `jobs` channel, for the job's user only (after its
        commit: the row says the same). Without a user (system work) nobody is told."""
        if self.user_id is None or self.ctx.tenant is None:
            return
        publish_best_effort(
            get_settings().redis_url,
            self.ctx.tenant.id,
            "jobs",
            event_name,
            {"id": str(self.job_id), **data},
            user_id=self.user_id,
        )

    def _side(self, **values: object) -> None:
        with self.ctx.db.sync_session(self.ctx.schema) as side:
            job_repository.set_fields(side, job_id=self.job_id, **values)
            side.commit()


@contextmanager
def track(ctx: TaskContext, job_id: str | uuid.UUID) -> Iterator[JobTracker]:
    """Mark the job running, then succeeded with the task's commit, or failed if the task fails for good."""
    key = uuid.UUID(str(job_id))
    job = job_repository.get_sync(ctx.session, job_id=key)
    if job is None:
        raise JobNotFound(f"job {key} does not exist in this tenant")
    tracker = JobTracker(ctx, key, job.user_id)
    tracker._side(status=JobStatus.RUNNING.value, started_at=utcnow(), attempts=ctx.attempt + 1, error=None)
    tracker.announce("job.running", status=JobStatus.RUNNING.value, progress=job.progress)
    try:
        yield tracker
    except Retry as exc:
        tracker._side(status=JobStatus.QUEUED.value, error=f"retrying: {exc.exc or exc}"[:2000])
        tracker.announce("job.retrying", status=JobStatus.QUEUED.value)
        raise
    except BaseException as exc:
        error = _describe(exc)
        tracker._side(status=JobStatus.FAILED.value, error=error, finished_at=utcnow())
        tracker.announce("job.failed", status=JobStatus.FAILED.value, error=error)
        raise
    job_repository.set_fields(
        ctx.session,
        job_id=key,
        status=JobStatus.SUCCEEDED.value,
        progress=100,
        result_url=tracker.result_url,
        finished_at=utcnow(),
    )
    # Success is the task's own commit: announced only once that commit happened.
    done = {"status": JobStatus.SUCCEEDED.value, "progress": 100, "result_url": tracker.result_url}
    event.listen(ctx.session, "after_commit", lambda _s: tracker.announce("job.succeeded", **done), once=True)


class BadTaskArguments(Exception):
    """A job task was sent arguments its function does not take."""


def job_task(name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a tenant task that works for a job: `fn(ctx, job, **kwargs)`, called with `job_id=...`.

    The job is marked running, then succeeded with the task's commit or failed with the error, also
    when the task was sent arguments it does not take (the job would otherwise stay queued forever).
    """

    def decorator(fn: Callable[..., Any]) -> Any:
        signature = inspect.signature(fn)

        @tenant_task(name, **options)
        def run(ctx: TaskContext, *, job_id: str, **kwargs: Any) -> Any:
            with track(ctx, job_id) as job:
                try:
                    signature.bind(ctx, job, **kwargs)
                except TypeError as exc:
                    raise BadTaskArguments(f"{name}: {exc}") from exc
                return fn(ctx, job, **kwargs)

        run.__doc__ = fn.__doc__
        return run

    return decorator


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:2000] if text else type(exc).__name__
