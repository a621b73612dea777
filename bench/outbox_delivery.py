"""Outbox delivery: enqueue-to-start latency, and throughput through the outbox against plain `.delay()`.

    python -m bench.outbox_delivery [--latency-samples 300] [--tasks 1000] [--rounds 3]

A real worker (`platformctl worker`, prefork) and a real relay (`platformctl relay`) run as subprocesses;
the trivial task `bench.noop` runs through the platform task wrapper (one transaction, effect-once
record) and pushes its start time to Redis. Latency: commit of the enqueueing transaction to the task's
start, one task at a time on an otherwise idle worker. Throughput: N tasks enqueued through the outbox
(committed in batches of 100) against the same N sent with `send_task` (what `.delay()` does), rounds
alternating, until the worker has run them all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence

import redis

from bench._common import (
    Goal,
    Report,
    Timer,
    bench_database,
    bench_settings,
    command_line,
    log,
    median,
    percentile,
    services,
    spawn_platformctl,
    stop_process,
)
from platform_core.kernel.db.engines import Database
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import PROJECT_ROOT
from tenants.fleet import upgrade_public
from workers.celery_app import create_celery
from workers.settings import CelerySettings

LATENCY_GOAL_MS = 20.0
RATIO_GOAL = 0.8


def _wait_done(client: redis.Redis, target: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while int(client.get("bench:done") or 0) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {client.get('bench:done')} of {target} tasks ran")
        time.sleep(0.005)


def run(argv: Sequence[str] = ()) -> Report:
    """Measure and return the report."""
    parser = argparse.ArgumentParser(prog="bench.outbox_delivery")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(list(argv))
    started = time.perf_counter()
    with services() as (server_url, redis_url), bench_database(server_url, "outbox") as url:
        redis_db = redis_url.rsplit("/", 1)[0] + "/15"
        settings = bench_settings(url, redis_db)
        upgrade_public(settings)
        client = redis.Redis.from_url(redis_db)
        client.flushdb()
        env = {
            **os.environ,
            "ENV": "test",
            "DATABASE_URL": url,
            "REDIS_URL": redis_db,
            "LOG_LEVEL": "WARNING",
            "CELERY_EXTRA_TASK_MODULES": "bench.bench_tasks",
            "CELERY_CONCURRENCY": "2",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        app = create_celery(settings, CelerySettings(extra_task_modules="bench.bench_tasks"))
        app.loader.import_default_modules()
        db = Database(settings, pool_size=2)
        worker = spawn_platformctl(env, "worker")
        relay = spawn_platformctl(env, "relay")
        try:
            deadline = time.monotonic() + 120
            while not app.control.ping(timeout=0.5):
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker did not start")
            latencies, direct = _latency(db, app, client, args.latency_samples)
            outbox_rates, delay_rates = _throughput(db, app, client, args.tasks, args.rounds)
        finally:
            stop_process(relay)
            stop_process(worker)
            db.sync_engine.dispose()
    ratios = [o / d for o, d in zip(outbox_rates, delay_rates, strict=True)]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    report = Report(
        title="Outbox delivery: latency and throughput",
        command=command_line("bench.outbox_delivery", argv),
        summary=(
            f"Enqueue-to-start through the outbox (commit, NOTIFY, relay, Redis, worker) over "
            f"{len(latencies)} tasks one at a time; throughput of {args.tasks} trivial tasks through the "
            f"outbox against `send_task` (`.delay()`), {args.rounds} alternating rounds, worker with 2 "
            "prefork processes."
        ),
    )
    report.tables.append(
        (
            ["path", "p50 ms", "p90 ms", "p99 ms"],
            [
                ["outbox (commit to start)", f"{p50:.1f}", f"{percentile(latencies, 0.9):.1f}", f"{p99:.1f}"],
                [
                    "send_task (send to start)",
                    f"{percentile(direct, 0.5):.1f}",
                    f"{percentile(direct, 0.9):.1f}",
                    f"{percentile(direct, 0.99):.1f}",
                ],
            ],
        )
    )
    report.tables.append(
        (
            ["round", "outbox tasks/s", ".delay() tasks/s", "ratio"],
            [
                [str(i + 1), f"{o:.0f}", f"{d:.0f}", f"{o / d:.2f}"]
                for i, (o, d) in enumerate(zip(outbox_rates, delay_rates, strict=True))
            ],
        )
    )
    ratio = median(ratios)
    report.goals.append(
        Goal("enqueue-to-start p50", f"<= {LATENCY_GOAL_MS:.0f} ms", f"{p50:.1f} ms", p50 <= LATENCY_GOAL_MS)
    )
    report.goals.append(
        Goal("outbox/.delay() throughput", f">= {RATIO_GOAL}", f"{ratio:.2f}", ratio >= RATIO_GOAL)
    )
    report.elapsed_s = time.perf_counter() - started
    return report


def _latency(db: Database, app: object, client: redis.Redis, samples: int) -> tuple[list[float], list[float]]:
    log(f"latency: {samples} tasks through the outbox, then {samples // 3} with send_task")
    outbox_ms: list[float] = []
    for _ in range(samples):
        marker = uuid.uuid4().hex
        with db.sync_session() as session:
            enqueue(session, "bench.noop", marker=marker)
            session.commit()
            committed = time.time()
        _, value = client.blpop([f"bench:started:{marker}"], timeout=30)  # type: ignore[misc]
        outbox_ms.append((float(value) - committed) * 1000)
    direct_ms: list[float] = []
    for _ in range(max(1, samples // 3)):
        marker = uuid.uuid4().hex
        sent = time.time()
        app.send_task("bench.noop", kwargs={"marker": marker})  # type: ignore[attr-defined]
        _, value = client.blpop([f"bench:started:{marker}"], timeout=30)  # type: ignore[misc]
        direct_ms.append((float(value) - sent) * 1000)
    return outbox_ms, direct_ms


def _throughput(
    db: Database, app: object, client: redis.Redis, tasks: int, rounds: int
) -> tuple[list[float], list[float]]:
    outbox_rates: list[float] = []
    delay_rates: list[float] = []
    for round_no in range(rounds):
        for path in ("outbox", "delay"):
            client.set("bench:done", 0)
            with Timer() as timer:
                if path == "outbox":
                    for start in range(0, tasks, 100):
                        with db.sync_session() as session:
                            for _ in range(min(100, tasks - start)):
                                enqueue(session, "bench.noop", marker="t")
                            session.commit()
                else:
                    for _ in range(tasks):
                        app.send_task("bench.noop", kwargs={"marker": "t"})  # type: ignore[attr-defined]
                _wait_done(client, tasks)
            client.delete("bench:started:t")
            rate = tasks / timer.elapsed
            (outbox_rates if path == "outbox" else delay_rates).append(rate)
            log(f"throughput round {round_no + 1} {path}: {rate:.0f} tasks/s")
    return outbox_rates, delay_rates


def main() -> None:
    """Run and print the report."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
