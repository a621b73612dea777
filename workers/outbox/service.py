"""`enqueue`: the one way to send a task, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Insert, func, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.errors import AppError
from workers.models import OutboxMessage

NOTIFY_CHANNEL = "outbox"
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


class InvalidTaskArguments(AppError):
    """Task arguments must be JSON: ids and plain values, never objects."""

    status_code = 500
    code = "invalid_task_arguments"


def _statement(
    task_name: str, tenant_id: uuid.UUID | str | None, delay: float, kwargs: dict[str, Any]
) -> tuple[Insert, uuid.UUID]:
    if not task_name or "." not in task_name:
        raise InvalidTaskArguments(f"task names are dotted (`email.send`), got {task_name!r}")
    if tenant_id is not None:
        kwargs = {**kwargs, "tenant_id": str(tenant_id)}
    try:
        payload = json.loads(json.dumps(kwargs))
    except (TypeError, ValueError) as exc:
        raise InvalidTaskArguments(f"arguments of {task_name} are not JSON: {exc}") from exc
    message_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": message_id,
        "task_name": task_name,
        "kwargs": payload,
        "tenant_id": uuid.UUID(str(tenant_id)) if tenant_id is not None else None,
    }
    if delay > 0:
        values["available_at"] = func.now() + timedelta(seconds=delay)
    return insert(OutboxMessage).values(**values), message_id


def enqueue(
    session: Session,
    task_name: str,
    *,
    tenant_id: uuid.UUID | str | None = None,
    delay_seconds: float = 0,
    **kwargs: Any,
) -> uuid.UUID:
    """Write a task to the outbox in the session's transaction; it is published only if that commits."""
    stmt, message_id = _statement(task_name, tenant_id, delay_seconds, kwargs)
    session.execute(stmt)
    session.execute(_NOTIFY)
    return message_id


async def enqueue_async(
    session: AsyncSession,
    task_name: str,
    *,
    tenant_id: uuid.UUID | str | None = None,
    delay_seconds: float = 0,
    **kwargs: Any,
) -> uuid.UUID:
    """`enqueue` for the API's async sessions."""
    stmt, message_id = _statement(task_name, tenant_id, delay_seconds, kwargs)
    await session.execute(stmt)
    await session.execute(_NOTIFY)
    return message_id
