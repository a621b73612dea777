"""Outbox gauges for /metrics: rows committed but not yet published, and the age of the oldest due one.

Read from `public.outbox_message` when scraped (through the partial index on unpublished rows), so every
API process reports the same numbers: aggregate with max(), not sum(). A growing age means the relay is
down or the broker unreachable (beat's sweep publishes too, every 30 s).
"""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from workers.repository import outbox_backlog

# With several worker processes (metrics_server), a scrape reports the value last read by any of them.
PENDING = Gauge(
    "platform_outbox_pending",
    "Outbox rows not published yet (due now or later)",
    multiprocess_mode="mostrecent",
)
RETRYING = Gauge(
    "platform_outbox_retrying",
    "Unpublished outbox rows whose publication already failed",
    multiprocess_mode="mostrecent",
)
OLDEST = Gauge(
    "platform_outbox_oldest_due_seconds",
    "How long the oldest due, unpublished outbox row has waited (0 when there is none)",
    multiprocess_mode="mostrecent",
)


async def refresh(session: AsyncSession) -> None:
    """Set the gauges from the outbox table."""
    backlog = await outbox_backlog(session)
    PENDING.set(backlog.pending)
    RETRYING.set(backlog.retrying)
    OLDEST.set(backlog.oldest_due_seconds)
