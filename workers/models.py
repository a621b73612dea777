"""The record of finished task runs, in `public` (the outbox table is platform_core/kernel/outbox.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import PublicBase


class TaskRun(PublicBase):
    """A task whose effect committed: a second delivery of the same task id does nothing."""

    __tablename__ = "task_run"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200), nullable=False)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
