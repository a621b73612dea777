"""The transactional outbox, write side: `enqueue` a task in the caller's transaction.

Writing a row needs no Celery, so any layer may send a task by name; the relay that publishes committed
rows to the broker is `workers/outbox/`. The row's id becomes the Celery task id.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Index, Insert, Integer, String, Text, func, insert, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from platform_core.kernel.db.base import PublicBase
from platform_core.kernel.errors import AppError

NOTIFY_CHANNEL = "outbox"
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


class OutboxMessage(PublicBase):
    """A task to publish once the transaction that wrote it commits. Its id becomes the Celery task id."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "available_at", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_published_at", "published_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    task_name: Mapped[str] = mapped_column(String(200), nullable=False)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


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
