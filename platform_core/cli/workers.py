"""`platformctl worker | beat | relay`: the processes that do work off the request path."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from platform_core.cli.common import settings
from workers.queues import QUEUES


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = ",".join(QUEUES),
    concurrency: Annotated[int | None, typer.Option(min=1, help="Processes [CELERY_CONCURRENCY].")] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo.")] = "prefork",
    hostname: Annotated[str | None, typer.Option(help="Worker name (default: celery@<host>).")] = None,
) -> None:
    """Run a Celery worker (at-least-once delivery, one task prefetched per process)."""
    from workers.celery_app import celery_app
    from workers.settings import get_celery_settings

    argv = [
        "worker",
        f"--queues={queues}",
        f"--concurrency={concurrency or get_celery_settings().concurrency}",
        f"--pool={pool}",
        f"--loglevel={settings().log_level}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main(argv)


def beat(
    schedule_file: Annotated[
        str, typer.Option(help="Where beat keeps its last-run times.")
    ] = "/tmp/celerybeat-schedule",  # noqa: S108
) -> None:
    """Run Celery beat: exactly one per deployment."""
    from workers.celery_app import celery_app

    celery_app.start(["beat", f"--schedule={schedule_file}", f"--loglevel={settings().log_level}"])


def relay() -> None:
    """Run the outbox relay: publish committed jobs to the broker (several may run)."""
    from platform_core.kernel.db.engines import Database
    from workers.celery_app import celery_app
    from workers.outbox.relay import run_relay
    from workers.settings import get_outbox_settings

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    db = Database(settings(), pool_size=2)
    try:
        run_relay(db, celery_app, get_outbox_settings(), stop)
    finally:
        db.sync_engine.dispose()
