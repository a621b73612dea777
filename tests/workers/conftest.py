"""Real Celery workers, a real outbox relay, real commits: the harness for work off the request path."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from tests.conftest import subscribed
from tests.support.processes import PROBE_TASK_MODULES, VISIBILITY_TIMEOUT, WorkerProcess, worker_environment
from tests.support.tenants import TenantOps
from workers.celery_app import create_celery
from workers.outbox.relay import OutboxRelay
from workers.settings import CelerySettings, OutboxSettings


@pytest.fixture(scope="session")
def worker_env(settings: Settings) -> dict[str, str]:
    """Environment of worker and relay processes: this test worker's database and Redis."""
    return worker_environment(settings)


@pytest.fixture(scope="session")
def celery_settings() -> CelerySettings:
    """Celery settings matching the worker processes'."""
    return CelerySettings(visibility_timeout=VISIBILITY_TIMEOUT, extra_task_modules=PROBE_TASK_MODULES)


@pytest.fixture(scope="session")
def celery(settings: Settings, celery_settings: CelerySettings) -> Any:
    """A Celery app on this test worker's broker, with every task module imported."""
    app = create_celery(settings, celery_settings)
    app.loader.import_default_modules()
    redis.Redis.from_url(settings.redis_url).flushdb()  # a clean broker for this run
    return app


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], celery: Any, tmp_path: Any
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes for a test; all are stopped at its end."""
    started: list[WorkerProcess] = []

    def start(name: str = "w", extra_env: dict[str, str] | None = None, app: Any = None) -> WorkerProcess:
        worker = WorkerProcess(worker_env, name, tmp_path / f"{name}-{len(started)}.log", extra_env)
        started.append(worker)
        worker.wait_ready(app or celery)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str], celery: Any, tmp_path_factory: Any) -> Iterator[WorkerProcess]:
    """One worker process shared by a module's tests (tests that kill workers start their own)."""
    process = WorkerProcess(worker_env, "shared", tmp_path_factory.mktemp("worker") / "shared.log")
    process.wait_ready(celery)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def relay(settings: Settings, celery: Any) -> Iterator[OutboxRelay]:
    """An outbox relay running in a thread of the test process."""
    db = Database(settings, pool_size=2)
    outbox_relay = OutboxRelay(db, celery, OutboxSettings(sweep_seconds=0.5))
    stop = threading.Event()
    thread = threading.Thread(target=outbox_relay.run, args=(stop,), daemon=True)
    thread.start()
    yield outbox_relay
    stop.set()
    thread.join(timeout=10)
    db.sync_engine.dispose()


@pytest.fixture(scope="module")
def live_tenant(tenant_service: TenantOps, sync_db: Database) -> TenantContext:
    """A tenant whose data is really committed (workers cannot see a test's open transaction)."""
    tenant = tenant_service.create(slug=f"work-{uuid.uuid4().hex[:8]}", name="Work")
    return subscribed(sync_db, tenant)
