"""Billing gauges for /metrics: Stripe events waiting, failing or parked, and how old the oldest is.

Read from `public.stripe_event` when scraped (through the partial index on unprocessed events), so every
API process reports the same numbers: aggregate with max(), not sum(). Alert on parked events (they
wait for `platformctl billing replay-events`) and on an oldest unprocessed event older than minutes.
"""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository
from platform_core.kernel.db.base import utcnow

WAITING = ("pending", "failed", "parked")
# With several worker processes (metrics_server), a scrape reports the value last read by any of them.
EVENTS = Gauge(
    "platform_stripe_events",
    "Stripe events not processed yet, by status",
    ["status"],
    multiprocess_mode="mostrecent",
)
OLDEST = Gauge(
    "platform_stripe_event_oldest_unprocessed_seconds",
    "Age of the oldest Stripe event not processed yet (0 when there is none)",
    multiprocess_mode="mostrecent",
)


async def refresh(session: AsyncSession) -> None:
    """Set the gauges from the stripe_event table."""
    rows = await repository.waiting_events(session, WAITING)
    counts = {status: 0 for status in WAITING}
    oldest = None
    for status, count, received in rows:
        counts[status] = count
        oldest = received if oldest is None or received < oldest else oldest
    for status, count in counts.items():
        EVENTS.labels(status=status).set(count)
    OLDEST.set((utcnow() - oldest).total_seconds() if oldest else 0.0)
