"""Realtime: latency from a REST post to N WebSocket clients over two API processes; one process's rate.

Two `platformctl serve` processes, an outbox relay and a worker run on one database and Redis. N clients
(half on each process, all in this process's event loop) take a ticket, connect and subscribe to `items`.
Then:

- **REST → clients**: `--posts` times, POST /api/v1/items and time until each client has the
  `item.created` event (the whole path: commit, outbox, relay, worker, Redis stream, both readers, every
  socket); p50 and p99 over every (post, client) pair.
- **publish → clients**: the same with the event put on the stream directly (what a worker does), which
  leaves out the outbox and the task queue.
- **one process's rate**: `--burst` events published at once to K clients of one process; events
  delivered per second (events x clients / time to the last arrival).
- **memory per idle connection**: the growth of the API processes' RSS over the second half of the
  idle connections (the first half pays the one-time costs: database pool, caches).

The clients share one Python process, so on a small machine they measure their own parsing too:
read p99 as an upper bound.

    python -m bench.realtime [--clients 1000] [--posts 20] [--burst 2000] [--rate-clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
import websockets

from bench._common import (
    BASE_DOMAIN,
    Goal,
    Report,
    Timer,
    bearer_headers,
    bench_database,
    bench_settings,
    command_line,
    free_port,
    log,
    percentile,
    services,
    spawn_platformctl,
    stop_process,
)
from bench.auth_overhead import add_owner
from bench.tenancy_overhead import HOST, seed
from platform_core.kernel.realtime import publish_sync
from platform_core.kernel.settings import PROJECT_ROOT

MODULE = "bench.realtime"
GOAL_P99_MS = 250.0
GOAL_IDLE_KB = 50.0


class Api:
    """A `platformctl serve` process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "platform_core.cli.main", "serve", *self.where()],
                cwd=PROJECT_ROOT,
                env={**env, "METRICS_PORT": str(free_port())},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def where(self) -> list[str]:
        """The serve options naming the interface and port."""
        return ["--host", "127.0.0.1", "--port", str(self.port)]

    def wait(self) -> None:
        """Until /healthz answers."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("an API process exited")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("an API process did not start")

    def rss(self) -> int:
        """Resident memory of the process, in bytes."""
        return int(psutil.Process(self.process.pid).memory_info().rss)


@contextlib.contextmanager
def stack(env: dict[str, str]) -> Iterator[tuple[Api, Api]]:
    """Two API processes, a relay and a worker."""
    logs = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    log(f"realtime: API logs in {logs}")
    apis = (Api(env, logs / "api1.log"), Api(env, logs / "api2.log"))
    relay = spawn_platformctl(env, "relay")
    worker = spawn_platformctl(env, "worker", "--concurrency", "2")
    try:
        for api in apis:
            api.wait()
        yield apis
    finally:
        for process in (relay, worker, *(api.process for api in apis)):
            stop_process(process)


class Client:
    """One WebSocket subscribed to `items`; records when each marked event arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def open(self, http: httpx.AsyncClient, api: Api, headers: dict[str, str]) -> None:
        """Take a ticket, connect, subscribe."""
        answer = await http.post(f"{api.url}/api/v1/realtime/tickets", headers=headers)
        answer.raise_for_status()
        self.ws = await websockets.connect(
            f"ws://{HOST}/api/v1/realtime?ticket={answer.json()['ticket']}",
            host="127.0.0.1",
            port=api.port,
            open_timeout=60,
            compression=None,
        )
        await self.ws.send(json.dumps({"type": "subscribe", "channel": "items"}))
        assert json.loads(await self.ws.recv())["type"] == "subscribed"
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") == "event":
                self.count += 1
                mark = message["data"].get("title") or message["data"].get("m")
                if mark:
                    self.arrivals[mark] = now

    async def close(self) -> None:
        """Close the socket."""
        if self.reader:
            self.reader.cancel()
        await self.ws.close()


async def wait_all(clients: Sequence[Client], mark: str, wait: float = 30) -> None:
    """Until every client has the event marked `mark`."""
    deadline = time.perf_counter() + wait
    while any(mark not in c.arrivals for c in clients):
        if time.perf_counter() > deadline:
            missing = sum(mark not in c.arrivals for c in clients)
            raise RuntimeError(f"{missing} clients never got {mark}")
        await asyncio.sleep(0.002)


async def measure(
    args: argparse.Namespace, apis: tuple[Api, Api], headers: dict[str, str], tenant_id: str, redis_url: str
) -> dict[str, Any]:
    """Every measurement, on connected clients."""
    results: dict[str, Any] = {}
    clients = [Client() for _ in range(args.clients)]
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as http:
        semaphore = asyncio.Semaphore(50)

        async def open_one(n: int, client: Client) -> None:
            async with semaphore:
                await client.open(http, apis[n % 2], headers)

        # Memory per connection at the margin: the second half's growth, so that what the first
        # connections cost once (database pool, caches, arenas) is not counted per connection.
        half = len(clients) // 2
        log(f"realtime: connecting {args.clients} clients")
        await asyncio.gather(*(open_one(n, c) for n, c in enumerate(clients[:half])))
        await asyncio.sleep(2)
        rss_half = [api.rss() for api in apis]
        await asyncio.gather(*(open_one(n, c) for n, c in enumerate(clients[half:], start=half)))
        await asyncio.sleep(2)  # let the processes settle before reading their memory
        grown = [api.rss() - before for api, before in zip(apis, rss_half, strict=True)]
        results["idle_kb"] = sum(grown) / (len(clients) - half) / 1024

        rest: list[float] = []
        for _ in range(args.posts):
            title = f"rt-{uuid.uuid4().hex}"
            start = time.perf_counter()
            answer = await http.post(f"{apis[0].url}/api/v1/items", headers=headers, json={"title": title})
            answer.raise_for_status()
            await wait_all(clients, title)
            rest += [(c.arrivals[title] - start) * 1000 for c in clients]
            await asyncio.sleep(0.1)
        results["rest"] = rest

        direct: list[float] = []
        sync_redis = redis.Redis.from_url(redis_url)
        for _ in range(args.posts):
            mark = uuid.uuid4().hex
            start = time.perf_counter()
            publish_sync(sync_redis, tenant_id, "items", "item.updated", {"m": mark})
            await wait_all(clients, mark)
            direct += [(c.arrivals[mark] - start) * 1000 for c in clients]
            await asyncio.sleep(0.05)
        results["direct"] = direct

        rate_clients = [c for n, c in enumerate(clients) if n % 2 == 0][: args.rate_clients]
        for client in clients:
            if client not in rate_clients:
                await client.close()
        before = [c.count for c in rate_clients]
        start = time.perf_counter()
        with sync_redis.pipeline(transaction=False) as pipe:
            for n in range(args.burst):
                publish_sync(pipe, tenant_id, "items", "item.updated", {"n": n})  # type: ignore[arg-type]
            pipe.execute()
        last = uuid.uuid4().hex
        publish_sync(sync_redis, tenant_id, "items", "item.updated", {"m": last})
        await wait_all(rate_clients, last, wait=120)
        elapsed = max(c.arrivals[last] for c in rate_clients) - start
        delivered = sum(c.count - b for c, b in zip(rate_clients, before, strict=True))
        results["rate"] = (delivered / elapsed, (args.burst + 1) / elapsed, len(rate_clients))
        for client in rate_clients:
            await client.close()
        sync_redis.close()
    return results


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=20)
    # At most a channel's cap (1,000 entries): a longer burst outruns the history and is reported lost.
    parser.add_argument("--burst", type=int, default=900)
    parser.add_argument("--rate-clients", type=int, default=50)
    args = parser.parse_args(list(argv))
    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "rt") as url:
        log(f"realtime: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        tenant_id, user_id = add_owner(url, redis_url, schema)
        settings = bench_settings(url, redis_url)
        headers = {**bearer_headers(settings, tenant_id, user_id), "Host": HOST}
        env = {
            **os.environ,
            "ENV": "test",
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "BASE_DOMAIN": BASE_DOMAIN,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(PROJECT_ROOT),
            "REALTIME_MAX_CONNECTIONS_PER_TENANT": str(args.clients + 10),
            "REALTIME_SEND_QUEUE_SIZE": str(max(256, args.burst * 2)),
            "REALTIME_MAX_MESSAGES_PER_SECOND_PER_TENANT": str(args.clients * 10),
        }
        with stack(env) as apis:
            results = asyncio.run(measure(args, apis, headers, str(tenant_id), redis_url))
    rest, direct = results["rest"], results["direct"]
    per_second, events_per_second, rate_clients = results["rate"]
    rest_p99 = percentile(rest, 0.99)
    report = Report(
        title=f"Realtime: {args.clients} WebSocket clients over two API processes",
        command=command_line(MODULE, argv),
        summary=(
            "Latency from a REST post (or a direct publish) to its arrival at every client, over two "
            "`platformctl serve` processes with a relay and a worker; the delivery rate of one process."
        ),
        tables=[
            (
                ["path", "p50 ms", "p99 ms", "max ms", "samples"],
                [
                    [
                        name,
                        f"{percentile(v, 0.5):.1f}",
                        f"{percentile(v, 0.99):.1f}",
                        f"{max(v):.1f}",
                        str(len(v)),
                    ]
                    for name, v in (("REST post → clients", rest), ("publish → clients", direct))
                ],
            ),
            (
                ["one process", "value"],
                [
                    [f"events delivered per second ({rate_clients} clients)", f"{per_second:,.0f}"],
                    ["distinct events per second", f"{events_per_second:,.0f}"],
                    ["memory per idle connection (KB)", f"{results['idle_kb']:.1f}"],
                ],
            ),
        ],
        goals=[
            Goal(
                "REST → clients p99", f"≤ {GOAL_P99_MS:.0f} ms", f"{rest_p99:.1f} ms", rest_p99 <= GOAL_P99_MS
            ),
            Goal(
                "memory per idle connection",
                f"≤ {GOAL_IDLE_KB:.0f} KB",
                f"{results['idle_kb']:.1f} KB",
                results["idle_kb"] <= GOAL_IDLE_KB,
            ),
        ],
        notes=["The clients run in one Python process beside the servers: their own CPU is in the numbers."],
    )
    report.elapsed_s = total.elapsed
    return report


def main() -> None:
    """Entry point."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
