"""Job rules: create a job with its task in one transaction; track it from the task."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.jobs import repository as job_repository
from platform_core.jobs.exceptions import JobNotFound
from platform_core.jobs.models import Job, JobStatus
from platform_core.jobs.schemas import JobPage, JobRead
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import enqueue_async
from platform_core.kernel.paging import PageParams
from workers.base import TaskContext, tenant_task

logger = logging.getLogger("platform.jobs")


async def start_job(
    session: AsyncSession, tenant: TenantContext, *, type_: str, task_name: str, params: dict[str, Any]
) -> Job:
    """Create a queued job and enqueue its task in the caller's transaction (both or neither)."""
    job = Job(id=uuid.uuid4(), type=type_, status=JobStatus.QUEUED.value, progress=0, params=params)
    session.add(job)
    await session.flush()
    await enqueue_async(session, task_name, tenant_id=tenant.id, job_id=str(job.id), **params)
    await session.refresh(job)
    return job


async def list_jobs(
    session: AsyncSession, *, status: str | None, type_: str | None, paging: PageParams
) -> JobPage:
    """A page of the tenant's jobs."""
    jobs, total = await job_repository.list_page(session, status=status, type_=type_, paging=paging)
    return JobPage.of([JobRead.model_validate(j) for j in jobs], total, paging)


class JobTracker:
    """Handed to a task: reports progress now, and the outcome with the task's own transaction."""

    def __init__(self, ctx: TaskContext, job_id: uuid.UUID) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.result_url: str | None = None

    def progress(self, percent: int) -> None:
        """Record progress at once (its own short transaction), clamped to 0-100."""
        with self.ctx.db.sync_session(self.ctx.schema) as side:
            job_repository.set_fields(side, self.job_id, progress=max(0, min(100, int(percent))))
            side.commit()

    def _side(self, **values: object) -> None:
        with self.ctx.db.sync_session(self.ctx.schema) as side:
            job_repository.set_fields(side, self.job_id, **values)
            side.commit()


@contextmanager
def track(ctx: TaskContext, job_id: str | uuid.UUID) -> Iterator[JobTracker]:
    """Mark the job running, then succeeded with the task's commit, or failed if the task fails for good."""
    key = uuid.UUID(str(job_id))
    if job_repository.get_sync(ctx.session, key) is None:
        raise JobNotFound(f"job {key} does not exist in this tenant")
    tracker = JobTracker(ctx, key)
    tracker._side(status=JobStatus.RUNNING.value, started_at=utcnow(), attempts=ctx.attempt + 1, error=None)
    try:
        yield tracker
    except Retry as exc:
        tracker._side(status=JobStatus.QUEUED.value, error=f"retrying: {exc.exc or exc}"[:2000])
        raise
    except BaseException as exc:
        tracker._side(status=JobStatus.FAILED.value, error=_describe(exc), finished_at=utcnow())
        raise
    job_repository.set_fields(
        ctx.session,
        key,
        status=JobStatus.SUCCEEDED.value,
        progress=100,
        result_url=tracker.result_url,
        finished_at=utcnow(),
    )


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
