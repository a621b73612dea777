"""The Celery application: configured from settings, JSON only, at-least-once delivery."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from platform_core.kernel.settings import Settings, get_settings
from workers.queues import QUEUES, route_task
from workers.schedule import BEAT_SCHEDULE
from workers.settings import CelerySettings, get_celery_settings

TASK_MODULES = (
    "workers.maintenance",
    "workers.schema_pool",
    "workers.email.tasks",
    "platform_core.jobs.tasks",
    "platform_core.reports.tasks",
    "platform_core.uploads.tasks",
    "platform_core.operators.tasks",
    "billing.tasks",
    "platform_core.webhooks.tasks",
    "platform_core.realtime.tasks",
    "platform_core.chat.tasks",
)


def create_celery(settings: Settings | None = None, celery_settings: CelerySettings | None = None) -> Celery:
    """Build the Celery app. Tasks are found in TASK_MODULES."""
    settings = settings or get_settings()
    cs = celery_settings or get_celery_settings()
    extra = [m.strip() for m in cs.extra_task_modules.split(",") if m.strip()]
    app = Celery("platform", include=[*TASK_MODULES, *extra])
    broker = cs.broker_url or settings.redis_url
    app.conf.update(
        broker_url=broker,
        result_backend=cs.result_backend or settings.redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        # At-least-once: ack after the task ends; a task whose worker dies is redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=cs.task_soft_time_limit,
        task_time_limit=cs.task_time_limit,
        # Results live in job records; the backend is never read by id from the API.
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="default",
        task_routes=(route_task,),
        task_always_eager=cs.always_eager,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": cs.visibility_timeout,
            # Scan for tasks of dead workers every interval (not every 10th), and do not let a worker
            # killed while scanning block the others for kombu's default five minutes.
            "unacked_restore_interval": cs.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": max(30, min(300, cs.visibility_timeout)),
        },
        result_backend_transport_options={"visibility_timeout": cs.visibility_timeout},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        beat_schedule=BEAT_SCHEDULE,
    )
    return app


celery_app = create_celery()
