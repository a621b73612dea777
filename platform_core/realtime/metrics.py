"""Realtime metrics (on METRICS_PORT with the others; summed over the API processes of a pod)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge(
    "platform_realtime_connections",
    "Open realtime WebSocket connections of this process",
    multiprocess_mode="livesum",
)
SUBSCRIBED_STREAMS = Gauge(
    "platform_realtime_streams",
    "Channel streams this process reads for its connections",
    multiprocess_mode="livesum",
)
DELIVERED = Counter("platform_realtime_events_delivered", "Events queued to realtime connections")
CLOSED = Counter(
    "platform_realtime_closed", "Realtime connections the server closed, by close code", ["code"]
)
