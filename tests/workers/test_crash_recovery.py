"""Crashes lose nothing: a worker killed mid-task, a relay dead between commit and publish, RabbitMQ.

No shared worker or in-process relay runs in this module: each test starts exactly what it kills.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import func, select

from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.settings import PROJECT_ROOT
from tests.support.processes import wait_until
from tests.workers.test_delivery import _enqueue_committed, _items_titled, _starts
from workers.models import TaskRun


def _start_relay(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "platform_core.cli.main", "relay"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop_relay(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


@pytest.fixture
def start_relay(worker_env):
    """Start `platformctl relay` subprocesses; every one is stopped at the end, whatever happens."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(_start_relay(worker_env))
        return started[-1]

    yield start
    for process in started:
        _stop_relay(process)


def test_worker_killed_mid_task_runs_again_on_another_worker_effect_once(
    sync_db, settings, live_tenant, start_relay, start_worker
):
    start_relay()
    first = start_worker("first")
    marker = f"killed-{uuid.uuid4().hex[:8]}"
    message_id = _enqueue_committed(
        sync_db, "probe.effect", tenant_id=live_tenant.id, marker=marker, hold_seconds=120
    )
    wait_until(lambda: _starts(settings, marker) == 1)
    first.kill()  # SIGKILL mid-task: its transaction never commits, its message is never acked
    assert _items_titled(sync_db, live_tenant, marker) == 0
    start_worker("second")
    # Redis hands the unacked message to the new worker after the visibility timeout.
    wait_until(lambda: _items_titled(sync_db, live_tenant, marker) == 1, timeout=60)
    assert _starts(settings, marker) == 2
    with sync_db.sync_session() as session:
        runs = session.scalar(
            select(func.count()).select_from(TaskRun).where(TaskRun.task_id == str(message_id))
        )
    assert runs == 1


def test_relay_down_between_commit_and_publish_loses_nothing(sync_db, live_tenant, start_relay, start_worker):
    start_worker()
    relay_process = start_relay()
    os.killpg(relay_process.pid, signal.SIGKILL)  # the relay dies...
    relay_process.wait(timeout=10)
    marker = f"relay-{uuid.uuid4().hex[:8]}"
    message_id = _enqueue_committed(sync_db, "probe.effect", tenant_id=live_tenant.id, marker=marker)
    with sync_db.sync_session() as session:  # ...after the commit, before any publish
        assert session.get(OutboxMessage, message_id).published_at is None
    start_relay()
    wait_until(lambda: _items_titled(sync_db, live_tenant, marker) == 1, timeout=60)


def _rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbitmq_reachable(), reason="no RabbitMQ server on 127.0.0.1:5672")
def test_rabbitmq_broker_by_configuration(sync_db, settings, live_tenant, worker_env, start_worker):
    from workers.celery_app import create_celery
    from workers.outbox.relay import OutboxRelay
    from workers.settings import CelerySettings, OutboxSettings

    vhost_url = "amqp://guest:guest@127.0.0.1:5672//"
    app = create_celery(
        settings, CelerySettings(broker_url=vhost_url, extra_task_modules="tests.workers.probe_tasks")
    )
    app.loader.import_default_modules()
    start_worker("rabbit", extra_env={"CELERY_BROKER_URL": vhost_url}, app=app)
    marker = f"rabbit-{uuid.uuid4().hex[:8]}"
    _enqueue_committed(sync_db, "probe.effect", tenant_id=live_tenant.id, marker=marker)
    from platform_core.kernel.db.engines import Database

    db = Database(settings, pool_size=1)
    try:
        OutboxRelay(db, app, OutboxSettings()).drain()
    finally:
        db.sync_engine.dispose()
    wait_until(lambda: _items_titled(sync_db, live_tenant, marker) == 1)
