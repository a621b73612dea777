"""Settings of the work queue (prefix CELERY_) and of the outbox relay (prefix OUTBOX_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CelerySettings(BaseSettings):
    """Broker, limits and delivery guarantees of the Celery workers."""

    model_config = SettingsConfigDict(env_prefix="CELERY_", env_file=".env", extra="ignore")

    broker_url: str = ""  # empty: REDIS_URL; an amqp:// URL selects RabbitMQ
    result_backend: str = ""  # empty: REDIS_URL
    task_soft_time_limit: int = Field(default=300, ge=1)
    task_time_limit: int = Field(default=360, ge=1)
    # Redis only: a task held by a dead worker comes back after this; keep it above the longest task.
    visibility_timeout: int = Field(default=3600, ge=1)
    # Redis only: how often a worker looks for such tasks (kombu's default scan is every ~100 s).
    unacked_restore_interval: int = Field(default=10, ge=1)
    concurrency: int = Field(default=2, ge=1)
    always_eager: bool = False
    # Comma-separated modules with more tasks to load (plugins; the tests load their probe tasks so).
    extra_task_modules: str = ""


class OutboxSettings(BaseSettings):
    """How the outbox relay publishes committed jobs."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", env_file=".env", extra="ignore")

    sweep_seconds: float = Field(default=5.0, gt=0)  # poll even without NOTIFY
    batch_size: int = Field(default=200, ge=1, le=5000)
    retention_days: int = Field(default=7, ge=1)  # published rows and finished task runs kept this long
    job_retention_days: int = Field(default=30, ge=1)  # finished jobs (and their reports) kept this long


@lru_cache
def get_celery_settings() -> CelerySettings:
    """Process-wide Celery settings."""
    return CelerySettings()


@lru_cache
def get_outbox_settings() -> OutboxSettings:
    """Process-wide outbox settings."""
    return OutboxSettings()
