"""What tenancy costs per request: the full app against a bare FastAPI app running the same query.

Both apps run under uvicorn in their own process (one worker, access log off, log level warning) on a
loopback port and are loaded in turn, ABAB..., with a fixed concurrency for a fixed time per round:
with `wrk` when it is installed (Debian package `wrk`), else with an httpx.AsyncClient load loop.
The full app resolves the tenant from the Host header (`acme.example.com`), binds its schema with
schema_translate_map and goes through the request middleware; its `authenticate` answers a fixed
principal (authentication is measured on its own by bench.auth_overhead); the bare app
(bench/_apps.py) has one route that calls the same service function (the lean read of
platform_core/kernel/db/reads.py) over an engine with the same pool settings and the schema fixed.
The result is the ratio full/bare of requests per second.

    python -m bench.tenancy_overhead [--rounds 10] [--duration 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench._common import (
    BASE_DOMAIN,
    Goal,
    Report,
    Timer,
    bench_database,
    bench_settings,
    command_line,
    free_port,
    log,
    median,
    services,
)
from bench.provisioning import create_tenant
from platform_core.items.models import Item
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, to_libpq_url, to_sqlalchemy_url
from tenants.fleet import upgrade_public

MODULE = "bench.tenancy_overhead"
SLUG = "acme"
HOST = f"{SLUG}.{BASE_DOMAIN}"
PATH = "/api/v1/items?page_size=20"
ITEMS = 50
GOAL_RATIO = 0.90
STATS_DELAY_S = 1.2


class Loader(Protocol):
    """A load generator: (requests per second, requests done) for one run."""

    def __call__(
        self, url: str, *, concurrency: int, duration: float, headers: dict[str, str] | None = None
    ) -> tuple[float, int]:
        """Load `url` for `duration` seconds with `concurrency` connections (Host: the tenant's)."""
        ...


@dataclass
class Server:
    """A uvicorn process serving one app on a loopback port."""

    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The benchmarked URL."""
        return f"http://127.0.0.1:{self.port}{PATH}"


@contextlib.contextmanager
def serve(
    name: str, factory: str, env: dict[str, str], headers: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run `factory` under uvicorn until the block ends; wait until it answers (with `headers`)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    # No metrics listener: two servers run side by side, and a benchmark reads no metrics.
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**env, "METRICS_PORT": "0"})
    server = Server(name, port, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} app exited with {process.returncode}")
            try:
                response = httpx.get(server.url, headers={"Host": HOST, **(headers or {})}, timeout=2)
                if response.status_code == 200:
                    break
                raise RuntimeError(f"{name} app answered {response.status_code}: {response.text[:300]}")
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} app did not start") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_COUNT = re.compile(r"(\d+) requests in ")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors:.*")


def load_wrk(
    url: str, *, concurrency: int, duration: float, headers: dict[str, str] | None = None
) -> tuple[float, int]:
    """Requests per second and requests done in one wrk run; raises if any response was not 2xx."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s"]
    for name, value in {"Host": HOST, **(headers or {})}.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if (bad := _NON_2XX.search(out)) or (bad := _SOCKET_ERRORS.search(out)):
        raise RuntimeError(f"wrk saw errors: {bad.group(0)}\n{out}")
    rps, count = _RPS.search(out), _COUNT.search(out)
    if not rps or not count:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(rps.group(1)), int(count.group(1))


async def _load_httpx(
    url: str, concurrency: int, duration: float, headers: dict[str, str] | None
) -> tuple[float, int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sent = {"Host": HOST, **(headers or {})}
    async with httpx.AsyncClient(limits=limits, headers=sent, timeout=10) as client:
        deadline = time.perf_counter() + duration
        done = 0

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start), done


def load_httpx(
    url: str, *, concurrency: int, duration: float, headers: dict[str, str] | None = None
) -> tuple[float, int]:
    """Requests per second from an in-process httpx load loop (when wrk is not installed)."""
    return asyncio.run(_load_httpx(url, concurrency, duration, headers))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sessions_opened(database_url: str) -> int:
    """Connections ever opened to the benchmark database (pg_stat_database.sessions, PostgreSQL 14+).

    Read from the server's `postgres` database, so reading does not count itself. Backends report
    their connection within a second, which is why rounds end with a short pause.
    """
    url = make_url(to_sqlalchemy_url(database_url))
    admin = to_libpq_url(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sessions, 0) FROM pg_stat_database WHERE datname = %s", (url.database,)
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Round:
    """One load round against one app."""

    rps: float
    cpu_ms_per_request: float
    connections_opened: int


def measure(
    server: Server,
    load: Loader,
    database_url: str,
    *,
    concurrency: int,
    duration: float,
    headers: dict[str, str] | None = None,
) -> Round:
    """One round against one server: req/s, server CPU ms per request, DB connections it opened."""
    sessions = sessions_opened(database_url)
    before = cpu_seconds(server.process.pid)
    rps, count = load(server.url, concurrency=concurrency, duration=duration, headers=headers)
    cpu_ms = (cpu_seconds(server.process.pid) - before) * 1000 / max(count, 1)
    time.sleep(STATS_DELAY_S)
    return Round(rps, cpu_ms, sessions_opened(database_url) - sessions)


def seed(settings_url: str, redis_url: str) -> str:
    """Migrate public, provision tenant `acme` and give it ITEMS items; return its schema."""
    settings = bench_settings(settings_url, redis_url)
    upgrade_public(settings)
    db = Database(settings, pool_size=1)
    try:
        tenant = create_tenant(db, settings, slug=SLUG, name="Acme")
        with db.sync_session(tenant.schema_name) as session, session.begin():
            session.add_all(
                Item(
                    title=f"Item {n}",
                    description=f"Description of item {n}, long enough to look like real text.",
                    status="open",
                    tags=["bench", f"group-{n % 5}"],
                )
                for n in range(ITEMS)
            )
    finally:
        db.sync_engine.dispose()
    return tenant.schema_name


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds per app (>= 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per app")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loader", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument(
        "--pool-size", type=int, default=None, help="DB_POOL_SIZE for both apps (default: the platform's)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="report the ratio without checking it against the goal"
    )
    args = parser.parse_args(list(argv))
    loader_name = args.loader
    if loader_name == "auto":
        loader_name = "wrk" if shutil.which("wrk") else "httpx"
    load = load_wrk if loader_name == "wrk" else load_httpx

    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "http") as url:
        log(f"tenancy overhead: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        defaults = bench_settings(url, redis_url)
        pool = (args.pool_size or defaults.db_pool_size, defaults.db_max_overflow)
        env = dict(os.environ)
        env.update(
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            BENCH_TENANT_SCHEMA=schema,
            BENCH_BASE_DOMAIN=BASE_DOMAIN,
            PYTHONPATH=str(PROJECT_ROOT),
        )
        if args.pool_size:
            env["DB_POOL_SIZE"] = str(args.pool_size)
        with (
            serve("full", "bench._apps:tenant_app_without_auth", env) as full,
            serve("bare", "bench._apps:bare_app", env) as bare,
        ):
            full_body = httpx.get(full.url, headers={"Host": HOST}).json()
            bare_body = httpx.get(bare.url).json()
            if full_body != bare_body or len(full_body["items"]) != 20 or full_body["total"] != ITEMS:
                raise RuntimeError("the two apps do not answer the same page of 20 items")
            for server in (full, bare):
                load(server.url, concurrency=args.concurrency, duration=args.warmup)
            rounds: dict[str, list[Round]] = {"full": [], "bare": []}
            for n in range(args.rounds):
                # ABAB, starting with the other app every round so neither always goes first.
                for server in (bare, full) if n % 2 else (full, bare):
                    rounds[server.name].append(
                        measure(server, load, url, concurrency=args.concurrency, duration=args.duration)
                    )
                log(
                    f"round {n + 1}/{args.rounds}: full {rounds['full'][-1].rps:.0f} req/s, "
                    f"bare {rounds['bare'][-1].rps:.0f} req/s"
                )

    full_rps = [r.rps for r in rounds["full"]]
    bare_rps = [r.rps for r in rounds["bare"]]
    full_cpu = [r.cpu_ms_per_request for r in rounds["full"]]
    bare_cpu = [r.cpu_ms_per_request for r in rounds["bare"]]
    full_conn = [r.connections_opened for r in rounds["full"]]
    bare_conn = [r.connections_opened for r in rounds["bare"]]
    ratios = [f / b for f, b in zip(full_rps, bare_rps, strict=True)]
    ratio = median(ratios)
    cpu_ratio = median([b / f for f, b in zip(full_cpu, bare_cpu, strict=True)])
    report = Report(
        title=(
            f"Tenancy overhead{f' (pool_size {args.pool_size})' if args.pool_size else ''}: "
            "GET /api/v1/items?page_size=20, full app vs bare FastAPI"
        ),
        command=command_line(MODULE, argv),
        summary=(
            f"Each app under uvicorn (1 worker, uvloop/httptools, access log off, log level warning) on "
            f"loopback; load by `{loader_name}` with {args.concurrency} connections, "
            f"{args.duration:.0f} s per round, {args.rounds} alternating rounds after a "
            f"{args.warmup:.0f} s warm-up each. Tenant with {ITEMS} items; both apps return the same "
            f"JSON page (checked). Both engines: pool_size {pool[0]}, max_overflow {pool[1]}. "
            "Ratio = median over rounds of full/bare in the same round. Server "
            "CPU per request (user+system time of the uvicorn process / requests served) is less "
            "sensitive to other load on the machine; its ratio bare/full is the throughput the full "
            "app would keep if the server process were the only bottleneck."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            [
                "round",
                "full req/s",
                "bare req/s",
                "full/bare",
                "full CPU ms/req",
                "bare CPU ms/req",
                "DB connections opened full/bare",
            ],
            [
                [str(n + 1), f"{f:.0f}", f"{b:.0f}", f"{f / b:.3f}", f"{fc:.2f}", f"{bc:.2f}", f"{fo} / {bo}"]
                for n, (f, b, fc, bc, fo, bo) in enumerate(
                    zip(full_rps, bare_rps, full_cpu, bare_cpu, full_conn, bare_conn, strict=True)
                )
            ],
        )
    )
    report.tables.append(
        (
            ["median", "full app", "bare app", "ratio"],
            [
                ["req/s", f"{median(full_rps):.0f}", f"{median(bare_rps):.0f}", f"{ratio:.3f} (full/bare)"],
                [
                    "server CPU ms/req",
                    f"{median(full_cpu):.2f}",
                    f"{median(bare_cpu):.2f}",
                    f"{cpu_ratio:.3f} (bare/full)",
                ],
            ],
        )
    )
    if args.concurrency > pool[0] and median(full_conn + bare_conn) > 0:
        full_opened, bare_opened = median(full_conn), median(bare_conn)
        who = (
            "the bare app more, so the ratio flatters the full app"
            if bare_opened > full_opened
            else (
                "the full app more, so the ratio understates it"
                if full_opened > bare_opened
                else "both alike"
            )
        )
        report.notes.append(
            f"With {args.concurrency} concurrent requests and a pool of {pool[0]} (+{pool[1]} overflow), "
            "SQLAlchemy's QueuePool closes an overflow connection whenever it is returned while "
            f"{pool[0]} sit idle, and opens a new one on the next burst: the connections opened per "
            f"round above (median {full_opened:.0f} full, {bare_opened:.0f} bare per "
            f"{args.duration:.0f} s round; each a PostgreSQL backend start, ~8 ms here). This churn "
            f"costs {who}; `--pool-size {args.concurrency}` removes it from both."
        )
    if args.report_only:
        report.goals.append(Goal("full/bare throughput (reported)", "report", f"{ratio:.3f}", True))
    else:
        report.goals.append(
            Goal("full/bare throughput", f">= {GOAL_RATIO:.2f}", f"{ratio:.3f}", ratio >= GOAL_RATIO)
        )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
