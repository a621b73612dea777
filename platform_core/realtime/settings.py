"""Realtime (WebSocket) settings (prefix REALTIME_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RealtimeSettings(BaseSettings):
    """REALTIME_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="REALTIME_", env_file=".env", extra="ignore")

    # Seconds a connection ticket stays valid (it is spent by the first connection that shows it).
    ticket_ttl_seconds: int = Field(default=30, ge=5, le=300)
    # Open connections per tenant, over every API process (the next one is closed with 4429).
    max_connections_per_tenant: int = Field(default=1000, ge=1)
    # Messages clients of one tenant may send per second, over every API process (4429 beyond).
    max_messages_per_second_per_tenant: int = Field(default=1000, ge=1)
    # Messages waiting to be sent to one connection; a client that lets more pile up is closed (4408).
    send_queue_size: int = Field(default=256, ge=8, le=65536)
    # Largest message a client may send, in bytes (bigger: closed with 1009).
    max_message_bytes: int = Field(default=16384, ge=256, le=1048576)
    # Channels one connection may be subscribed to at once.
    max_subscriptions: int = Field(default=50, ge=1, le=1000)
    # Seconds between the server's WebSocket pings, and how long a pong may take before the
    # connection is considered dead and closed.
    ping_interval_seconds: float = Field(default=20, gt=0)
    ping_timeout_seconds: float = Field(default=20, gt=0)
    # Seconds between checks that a connection's principal may still read what it subscribed to
    # (a removed member, a revoked session or key, a lost permission ends those subscriptions).
    revalidate_seconds: float = Field(default=60, gt=0)


@lru_cache
def get_realtime_settings() -> RealtimeSettings:
    """The process's realtime settings (read once)."""
    return RealtimeSettings()
