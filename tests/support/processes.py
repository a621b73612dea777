"""Real processes for tests: `platformctl worker`, the API under uvicorn, and polling for their effects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from platform_core.devstack._common import free_port, stop_child
from platform_core.kernel.settings import PROJECT_ROOT

VISIBILITY_TIMEOUT = 3  # seconds before Redis hands a dead worker's task to another worker
PROBE_TASK_MODULES = "tests.workers.probe_tasks"  # tasks that exist only in tests


def worker_environment(settings: Any) -> dict[str, str]:
    """Environment of worker and relay processes on these settings' database and Redis, with probe tasks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "SMTP_", "OUTBOX_", "S3_"))}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": settings.base_domain,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "console",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "CELERY_EXTRA_TASK_MODULES": PROBE_TASK_MODULES,
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",  # log lines reach the test as they happen
        }
    )
    return env


def tasks_ran(sync_db: Any, task_ids: list[str]) -> bool:
    """Whether every one of these tasks has run to its commit (a task_run row each)."""
    from sqlalchemy import select

    from workers.models import TaskRun

    with sync_db.sync_session() as session:
        done = set(session.scalars(select(TaskRun.task_id).where(TaskRun.task_id.in_(task_ids))))
    return done == set(task_ids)


JOB_DEADLINE = 30.0  # seconds a test waits for a worker to finish a job


async def finished_job(client: Any, job_id: str) -> dict[str, Any]:
    """Poll GET /api/v1/jobs/{id} until the job has succeeded or failed; fail the test at the deadline."""
    deadline = time.monotonic() + JOB_DEADLINE
    while True:
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not finish within {JOB_DEADLINE}s: {job}")
        await asyncio.sleep(0.05)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; fail the test with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class WorkerProcess:
    """A `platformctl worker` subprocess in its own process group."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        log_path: Any,
        extra_env: dict[str, str] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.name = f"{name}-{uuid.uuid4().hex[:6]}@test"
        self.log_path = log_path
        args = [
            sys.executable,
            "-m",
            "platform_core.cli.main",
            "worker",
            "--concurrency",
            str(concurrency),
            "--hostname",
            self.name,
        ]
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env={**env, **(extra_env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, app: Any, timeout: float = 60.0) -> None:
        """Wait until the worker answers a broadcast ping."""

        def answered() -> bool:
            assert self.process.poll() is None, self.output()
            return bool(app.control.ping(destination=[self.name], timeout=0.5))

        wait_until(answered, timeout=timeout, interval=0.1)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop gracefully (warm shutdown), or kill after a deadline."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self, since: int = 0) -> str:
        """What the worker logged so far (from offset `since`)."""
        return self.log_path.read_text()[since:]

    def mark(self) -> int:
        """An offset into the log: pass it to output() to see only what comes after."""
        return len(self.log_path.read_text())


class ApiServer:
    """The platform API as deployed (`platformctl serve`, uvicorn); a context manager.

    Its metrics listen on a port of their own (`metrics_url`); `args` are extra `serve` options. With
    `http` (a uvicorn HTTP/1.1 parser: `h11`, `httptools`) it runs plain uvicorn with that parser instead,
    for tests of what each parser lets through.
    """

    def __init__(self, env: dict[str, str], log_path: Path, *args: str, http: str | None = None) -> None:
        """Remember how to start it; nothing runs until the block is entered."""
        self.http = http
        self.port = free_port()
        self.metrics_port = free_port()
        self.env = {**env, "METRICS_PORT": str(self.metrics_port)}
        self.log_path = log_path
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiServer:
        """Start the server and wait until /healthz answers."""
        server = ["platform_core.cli.main", "serve", *self.args]
        if self.http:
            server = ["uvicorn", "platform_core.app.asgi:app", "--no-access-log", "--http", self.http]
        command = [sys.executable, "-m", *server, "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

        def healthy() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.output()
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            return False

        try:
            wait_until(healthy, timeout=120, interval=0.2)
        except AssertionError as exc:
            self.__exit__()
            raise AssertionError(f"the API did not answer /healthz: {self.output()[-3000:]}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        if self.process is not None:
            stop_child(self.process)
        self.log.close()

    def output(self) -> str:
        """What the server logged so far."""
        return self.log_path.read_text(errors="replace")
