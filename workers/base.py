"""Task decorators: one transaction per task, tenant binding, and effect-once under redelivery.

`tenant_task` tasks take `tenant_id` as a keyword argument: the schema of that tenant is bound for the
task's one transaction, and the log/Sentry context is set. `platform_task` tasks run in `public`.
Either way the task id is recorded in `public.task_run` in the same transaction as the task's effect, so
a message delivered twice (a worker killed before its ack, an outbox row published twice) commits once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Task, shared_task
from sqlalchemy.orm import Session

from platform_core.kernel.context import (
    TenantContext,
    TenantStatus,
    schema_name_for,
    tenant_id_var,
    tenant_slug_var,
)
from platform_core.kernel.db.engines import Database, TenantNotBoundError
from platform_core.kernel.db.outages import is_database_unavailable
from tenants import repository as tenant_repository
from workers import repository
from workers.database import worker_database

logger = logging.getLogger("platform.tasks")
F = TypeVar("F", bound=Callable[..., Any])
RUNNABLE = frozenset({TenantStatus.ACTIVE})
# A task that cannot reach the database is retried this often, waiting up to a minute between tries
# (about half an hour in all), before it fails for good.
DATABASE_RETRY_LIMIT = 30
DATABASE_RETRY_MAX_DELAY = 60


@dataclass
class TaskContext:
    """What a task function receives: its session (committed by the wrapper), tenant and identity."""

    session: Session
    db: Database
    task: Task
    task_id: str
    tenant: TenantContext | None = None

    @property
    def attempt(self) -> int:
        """0 on the first run, then 1, 2, ... on retries."""
        return int(self.task.request.retries or 0)

    @property
    def schema(self) -> str | None:
        """The bound tenant schema (None for platform tasks)."""
        return self.tenant.schema_name if self.tenant else None


class TaskDropped(Exception):
    """The task cannot run and must not be retried (its tenant is gone or not active)."""


def load_tenant(db: Database, tenant_id: Any) -> TenantContext:
    """The tenant a task runs for; TaskDropped if unknown or not active."""
    try:
        key = uuid.UUID(str(tenant_id))
    except ValueError as exc:
        raise TaskDropped(f"tenant_id {tenant_id!r} is not a UUID") from exc
    with db.sync_session() as session:
        row = tenant_repository.get_status(session, key)
    if row is None:
        raise TaskDropped(f"tenant {key} does not exist")
    status = TenantStatus(row.status)
    return TenantContext(key, row.slug, schema_name_for(key), status, row.suspended_reason, row.name)


def claim(session: Session, task_id: str, task_name: str, tenant_id: uuid.UUID | None) -> bool:
    """Record the run in this transaction; False if a run of this task id already committed."""
    return repository.claim_run(session, task_id=task_id, task_name=task_name, tenant_id=tenant_id)


def _run(
    task: Task, fn: Callable[..., Any], kwargs: dict[str, Any], *, tenant_bound: bool, runnable: frozenset
) -> Any:
    db = worker_database()
    task_id = str(task.request.id or uuid.uuid4())
    tenant: TenantContext | None = None
    if tenant_bound:
        if "tenant_id" not in kwargs:
            raise TenantNotBoundError(f"task {task.name} was sent without tenant_id")
        tenant_id = kwargs.pop("tenant_id")
        try:
            tenant = load_tenant(db, tenant_id)
            if tenant.status not in runnable:
                raise TaskDropped(f"tenant {tenant.slug} is {tenant.status}")
        except TaskDropped as exc:
            logger.warning("task %s[%s] dropped: %s", task.name, task_id, exc)
            return None
        tenant_slug_var.set(tenant.slug)
        tenant_id_var.set(str(tenant.id))
    with db.sync_session(tenant.schema_name if tenant else None) as session:
        try:
            if not claim(session, task_id, task.name, tenant.id if tenant else None):
                logger.info("task %s[%s] already ran; duplicate delivery ignored", task.name, task_id)
                session.rollback()
                return None
            ctx = TaskContext(session=session, db=db, task=task, task_id=task_id, tenant=tenant)
            result = fn(ctx, **kwargs)
            session.commit()
            return result
        except BaseException:  # Retry included: nothing of a failed attempt commits
            session.rollback()
            raise
        finally:
            tenant_slug_var.set(None)
            tenant_id_var.set(None)


def retry_when_database_returns(task: Task, exc: Exception) -> Exception:
    """Schedule the task again (backoff up to a minute) after it met a database it could not reach.

    Nothing of the attempt committed, so running it again is safe; without this the message would be
    acknowledged as failed and its work lost with a database restart.
    """
    countdown = min(DATABASE_RETRY_MAX_DELAY, 2 ** int(task.request.retries or 0))
    logger.warning(
        "task %s[%s]: database unavailable (%s); retrying in %ss",
        task.name,
        task.request.id,
        getattr(exc, "orig", exc),
        countdown,
    )
    return task.retry(exc=exc, countdown=countdown, max_retries=DATABASE_RETRY_LIMIT)


def _declare(
    name: str, options: dict[str, Any], *, tenant_bound: bool, runnable: frozenset
) -> Callable[[F], Task]:
    def decorator(fn: F) -> Task:
        @shared_task(name=name, bind=True, **options)
        def task(self: Task, **kwargs: Any) -> Any:
            try:
                return _run(self, fn, kwargs, tenant_bound=tenant_bound, runnable=runnable)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                raise retry_when_database_returns(self, exc) from exc

        task.__doc__ = fn.__doc__
        return task

    return decorator


def tenant_task(name: str, *, runnable: frozenset = RUNNABLE, **options: Any) -> Callable[[F], Task]:
    """Declare a task that works on one tenant's data; it is called with `tenant_id=...`."""
    return _declare(name, options, tenant_bound=True, runnable=runnable)


def platform_task(name: str, **options: Any) -> Callable[[F], Task]:
    """Declare a task that works on shared (public) data only."""
    return _declare(name, options, tenant_bound=False, runnable=RUNNABLE)
