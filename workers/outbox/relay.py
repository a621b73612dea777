"""The outbox relay: publishes committed outbox rows to Celery, woken by NOTIFY, sweeping as a fallback."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import psycopg
from celery import Celery
from sqlalchemy import func

from platform_core.kernel.db.engines import Database
from platform_core.kernel.outbox import NOTIFY_CHANNEL, OutboxMessage
from platform_core.kernel.settings import to_libpq_url
from workers import repository
from workers.settings import OutboxSettings

logger = logging.getLogger("platform.outbox")
_MAX_BACKOFF = 3600.0


class OutboxRelay:
    """Moves committed outbox rows to the broker. Several relays may run: rows are claimed SKIP LOCKED."""

    def __init__(self, db: Database, app: Celery, settings: OutboxSettings) -> None:
        self.db = db
        self.app = app
        self.settings = settings
        self.published = 0

    def known(self, task_name: str) -> bool:
        """Whether a worker built from this code can run the task."""
        return task_name in self.app.tasks

    def publish_batch(self) -> int:
        """Publish one batch of due rows; return how many were published."""
        with self.db.sync_session() as session, session.begin():
            rows = repository.due_messages(session, limit=self.settings.batch_size)
            sent = []
            with self.app.producer_or_acquire() as producer:  # one broker connection for the batch
                for row in rows:
                    if not self.known(row.task_name):
                        self._park(row, f"unknown task {row.task_name!r}")
                        continue
                    # The row id is the task id: publishing the same row twice runs the effect once.
                    self.app.send_task(
                        row.task_name, kwargs=row.kwargs, task_id=str(row.id), producer=producer
                    )
                    sent.append(row.id)
            if sent:
                repository.mark_published(session, sent)
        self.published += len(sent)
        return len(rows)

    def _park(self, row: OutboxMessage, error: str) -> None:
        """Retry later with backoff (a newer worker may know the task); never drop the row."""
        backoff = min(_MAX_BACKOFF, 2.0 ** min(row.attempts, 12))
        row.attempts += 1
        row.last_error = error
        row.available_at = func.now() + timedelta(seconds=backoff)
        logger.error("outbox row %s not published: %s; next try in %.0fs", row.id, error, backoff)

    def drain(self) -> int:
        """Publish until nothing is due; return the number of rows handled."""
        total = 0
        while True:
            handled = self.publish_batch()
            total += handled
            if handled < self.settings.batch_size:
                return total

    def _wait(self, conn: psycopg.Connection, stop: threading.Event) -> None:
        """Return on the first NOTIFY, after the sweep interval, or soon after `stop` is set."""
        deadline = time.monotonic() + self.settings.sweep_seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for _ in conn.notifies(timeout=min(remaining, 0.5), stop_after=1):
                return

    def run(self, stop: threading.Event) -> None:
        """Publish as rows commit (LISTEN) and every sweep interval, until `stop` is set."""
        delay = 0.5
        while not stop.is_set():
            try:
                with psycopg.connect(to_libpq_url(self.db.settings.database_url), autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    delay = 0.5
                    while not stop.is_set():
                        self.drain()
                        self._wait(conn, stop)
            except Exception as exc:  # database or broker down: keep trying, nothing is lost
                logger.warning("outbox relay error: %s; retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)


def run_relay(
    db: Database, app: Celery, settings: OutboxSettings, stop: threading.Event | None = None
) -> None:
    """Run a relay in the current thread until `stop` is set (forever by default)."""
    app.loader.import_default_modules()
    OutboxRelay(db, app, settings).run(stop or threading.Event())
