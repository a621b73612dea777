"""Webhook delivery settings (prefix WEBHOOK_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """WEBHOOK_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", env_file=".env", extra="ignore")

    # Let endpoints on loopback and private networks be registered and called (development and tests
    # only: in production it opens the platform's network to whoever registers an endpoint). It also
    # allows http:// targets.
    allow_private_targets: bool = False
    # Seconds for the whole attempt: connect, send, and read the answer.
    timeout_seconds: float = Field(default=15, gt=0, le=60)
    # Seconds between attempts, one per retry (a random +-20% is added to each); after the last
    # the delivery has failed for good.
    retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    # An endpoint that has failed every attempt for this long is disabled and its admins are told.
    disable_after_hours: float = Field(default=5 * 24, gt=0)
    # ... or after this many failed attempts in a row (0: only the time above counts).
    disable_after_failures: int = Field(default=0, ge=0)
    # A delivery that keeps failing holds the later ones of its endpoint (so they arrive in order) for
    # at most this long after its first attempt; then they go ahead while it keeps retrying.
    ordering_hold_seconds: float = Field(default=3600, ge=0)
    # The most of a response body read (the rest is not read), and the part of it kept in the log.
    max_response_bytes: int = Field(default=64 * 1024, ge=1024)
    logged_response_bytes: int = Field(default=2048, ge=0)
    # How long a rotated-out secret keeps signing beside the new one.
    previous_secret_hours: float = Field(default=24, ge=0)

    def retry_delays(self) -> list[float]:
        """The retry schedule, in seconds."""
        return [float(v) for v in self.retry_schedule.split(",") if v.strip()]


@lru_cache
def get_webhook_settings() -> WebhookSettings:
    """The process's webhook settings (read once)."""
    return WebhookSettings()
