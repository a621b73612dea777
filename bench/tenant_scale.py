"""Flat across tenants: the same load spread over 1,000 and 10,000 tenants against 2, design on and off.

One database holds every tenant schema (each with an owner, a few items and a bearer token of its
owner). For each phase (`--tenants`, default 1,000 then 10,000) the tenants missing are provisioned
(`tenants.provisioning.create_tenant` from `--jobs` processes, one transaction per tenant; the owner's
password is hashed once and the hash reused, which is what any number of owners with that password
would store), then `platformctl serve --workers 2` is started once per design (`--designs`: `on` is
the default settings, tenant-affine slices with recycling and the preloaded host cache; `off` is one
shared pool of DB_POOL_SIZE + DB_MAX_OVERFLOW, no recycling, no preload: the behaviour before).

Against each server: a warm-up spread over every tenant (`--warmup`), then `--rounds` interleaved pairs
of rounds of `wrk -t2 -c64` on `GET /api/v1/items?page_size=20`: the load on 2 tenants, then the same
load spread evenly over all N tenants (a Lua script cycles through every host, the two wrk threads
half a cycle apart). Each round reports req/s, p50/p99, transactions per request and backends started.
After the warm-up and after each spread round the private memory of the server's PostgreSQL backends
(`Anonymous` of /proc/<pid>/smaps_rollup: the backend's own heap, where its catalog caches live; the
server must be on this machine) is read: per backend median and max, and summed. A guard stops a round
whose backends together pass `--max-backend-gib`, so a design that grows without bound cannot take the
machine's memory.

Goals (issue 15, item 3), per design and phase: median over rounds of spread/2-tenant throughput
>= 0.8, and of the p99 ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench._common import (
    BASE_DOMAIN,
    Goal,
    Report,
    Timer,
    bearer_headers,
    bench_database,
    bench_settings,
    code_version,
    command_line,
    free_port,
    log,
    machine_facts,
    median,
    platform_env,
    services,
    spawn_platformctl,
    stop_process,
    vacuum_catalogs,
)
from bench.peer_django_tenants import database_counters, tree_cpu_seconds
from platform_core.kernel.settings import Settings, to_libpq_url, to_sqlalchemy_url

MODULE = "bench.tenant_scale"
PATH = "/api/v1/items?page_size=20"
PASSWORD = "bench-password-123"
ITEMS = 25
CONNECTIONS = 64
STATS_DELAY_S = 1.0
# The design switch. `on`: the new settings' defaults (8 slices of 2 connections, recycling after
# 2,000 schemas, the preloaded host cache), a shared pool of 4 so that both designs have the same
# connection budget (20 per process: 8 x 2 + 4 against 10 + 10 overflow). `off`: the behaviour
# before (one shared pool of DB_POOL_SIZE + DB_MAX_OVERFLOW, no recycling, no preload). Both keep the
# principal and billing-state caches until a notification (not a setting).
DESIGNS: dict[str, dict[str, str]] = {
    "on": {
        "DB_POOL_SIZE": "4",
    },
    "off": {
        "DB_TENANT_AFFINITY": "false",
        "DB_RECYCLE_AFTER_SCHEMAS": "0",
        "TENANT_CACHE_PRELOAD": "false",
    },
    # `off` with a pool that keeps its connections (20, no overflow: under this load SQLAlchemy's
    # QueuePool closes whichever connection comes back to a full queue, so `off`'s backends rarely live
    # long): every backend serves every tenant, which is what per-backend memory without the design is.
    "off-kept": {
        "DB_TENANT_AFFINITY": "false",
        "DB_RECYCLE_AFTER_SCHEMAS": "0",
        "TENANT_CACHE_PRELOAD": "false",
        "DB_POOL_SIZE": "20",
        "DB_MAX_OVERFLOW": "0",
    },
}


# ---------------------------------------------------------------------------------------------------
# Tenants.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchTenant:
    """A provisioned tenant: its host and the id of its owner."""

    slug: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID

    @property
    def host(self) -> str:
        """The tenant's host."""
        return f"{self.slug}.{BASE_DOMAIN}"


def _seed(
    session: Session, tenant: object, *, settings: Settings, password_hash: str, user_id: uuid.UUID
) -> None:
    """What a new tenant starts with (built-in roles, the owner), then a few items."""
    from platform_core.items.models import Item
    from platform_core.kernel.db.binding import in_schema
    from platform_core.members.owner import OwnerAccount, seed_schema
    from tenants.models import Tenant

    assert isinstance(tenant, Tenant)
    owner = OwnerAccount(email="owner@bench.example", password_hash=password_hash, id=user_id)
    seed_schema(session, tenant, owner=owner, settings=settings)
    rows = [
        {
            "id": uuid.uuid4(),
            "title": f"Item {n}",
            "description": f"Description of item {n}, long enough to look like real text.",
            "status": "open",
            "tags": ["bench", f"group-{n % 5}"],
        }
        for n in range(ITEMS)
    ]
    in_schema(session, tenant.schema_name).execute(insert(Item.__table__), rows)


def _provision_chunk(url: str, redis_url: str, password_hash: str, slugs: Sequence[str]) -> list[BenchTenant]:
    """Provision `slugs` in this worker process, one committed transaction per tenant."""
    import platform_core.app.models  # noqa: F401  (the complete tenant metadata)
    from platform_core.kernel.db.engines import Database
    from tenants.provisioning import create_tenant

    settings = bench_settings(url, redis_url)
    db = Database(settings, pool_size=1)
    made = []
    try:
        for slug in slugs:
            user_id = uuid.uuid4()
            seed = partial(_seed, settings=settings, password_hash=password_hash, user_id=user_id)
            with db.sync_session() as session, session.begin():
                tenant = create_tenant(session, settings=settings, slug=slug, name=slug.title(), seed=seed)
                made.append(BenchTenant(slug, tenant.id, user_id))
    finally:
        db.dispose_sync()
    return made


def provision(url: str, redis_url: str, first: int, count: int, jobs: int) -> list[BenchTenant]:
    """Provision tenants `t<first>`..`t<first+count-1>` from `jobs` processes."""
    from platform_core.kernel.security.passwords import hash_password

    password_hash = hash_password(PASSWORD)
    slugs = [f"t{n:05d}" for n in range(first, first + count)]
    chunk = max(1, min(250, -(-len(slugs) // jobs)))
    chunks = [slugs[i : i + chunk] for i in range(0, len(slugs), chunk)]
    made: list[BenchTenant] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        work = partial(_provision_chunk, url, redis_url, password_hash)
        for done in pool.map(work, chunks):
            made.extend(done)
            log(f"  provisioned {len(made)}/{count}")
    return made


# ---------------------------------------------------------------------------------------------------
# Servers, load and PostgreSQL memory.
# ---------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """`platformctl serve --workers 2` with one design's settings."""

    design: str
    port: int
    process: subprocess.Popen[bytes]
    database_url: str

    @property
    def url(self) -> str:
        """The benchmarked URL."""
        return f"http://127.0.0.1:{self.port}{PATH}"


@contextlib.contextmanager
def serve(url: str, redis_url: str, design: str, probe: tuple[str, dict[str, str]]) -> Iterator[Server]:
    """The platform under one design until the block ends; ready once `probe` answers 200."""
    port = free_port()
    env = platform_env(url, redis_url, **DESIGNS[design])
    process = spawn_platformctl(env, "serve", "--workers", "2", "--port", str(port))
    server = Server(design, port, process, url)
    try:
        deadline = time.monotonic() + 90
        host, headers = probe
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                response = httpx.get(server.url, headers={"Host": host, **headers}, timeout=5)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"the server answered {response.status_code}: {response.text[:300]}")
            break
        yield server
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Memory:
    """Private anonymous memory of the benchmarked database's platform backends, in MiB."""

    backends: int
    median_mib: float
    max_mib: float
    total_mib: float


T = TypeVar("T")


def patiently(read: Callable[[], T]) -> T:
    """`read()`, retried for up to a minute while the shared server has no connection to spare."""
    for _ in range(60):
        try:
            return read()
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc):
                raise
            time.sleep(1)
    return read()


def backend_pids(database_url: str) -> list[int]:
    """The pids of the app's backends (application_name `platform`) on the benchmark's database."""
    url = make_url(to_sqlalchemy_url(database_url))
    admin = to_libpq_url(url.set(database="postgres").render_as_string(hide_password=False))

    def read() -> list[int]:
        with psycopg.connect(admin, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'platform'",
                (url.database,),
            ).fetchall()
        return [int(row[0]) for row in rows]

    return patiently(read)


def backend_memory(database_url: str) -> Memory:
    """`Anonymous` of smaps_rollup for each of the app's backends on the benchmark's database: the
    backend's private heap (catalog caches, plans), not the shared buffers it maps."""
    sizes = []
    for pid in backend_pids(database_url):
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            found = re.search(r"^Anonymous:\s+(\d+) kB", text, re.M)
            if found:
                sizes.append(int(found.group(1)) / 1024)
    if not sizes:
        return Memory(0, 0.0, 0.0, 0.0)
    return Memory(len(sizes), median(sizes), max(sizes), sum(sizes))


_WRK_LUA = """\
local hosts = {hosts}
local threads = 0
function setup(thread)
  thread:set("offset", math.floor(threads * #hosts / 2))
  threads = threads + 1
end
local n = 0
function init(args)
  n = offset or 0
end
request = function()
  n = n + 1
  return wrk.format("GET", "{path}", hosts[(n % #hosts) + 1])
end
"""
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_COUNT = re.compile(r"(\d+) requests in ")
_ERRORS = re.compile(
    r"Non-2xx or 3xx responses:\s+\d+|Socket errors: connect [1-9].*|Socket errors:.*(read|write) [1-9].*"
)
_TIMEOUTS = re.compile(r"Socket errors:.* timeout (\d+)")
_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def lua_script(tenants: Sequence[BenchTenant], headers: dict[str, dict[str, str]]) -> str:
    """The wrk script cycling through `tenants`' hosts, each with its bearer token."""
    entries = [
        '{["Host"] = "%s", ["Authorization"] = "%s"}' % (t.host, headers[t.host]["Authorization"])  # noqa: UP031
        for t in tenants
    ]
    return _WRK_LUA.format(hosts="{" + ",\n".join(entries) + "}", path=PATH)


@dataclass(frozen=True)
class Load:
    """One wrk run: req/s, requests, p50/p99 in ms; `stopped` when the memory guard ended it."""

    rps: float
    count: int
    p50_ms: float
    p99_ms: float
    stopped: bool = False
    timeouts: int = 0  # requests wrk gave up on after 10 s


def run_wrk(server: Server, script: str, seconds: float, max_backend_gib: float) -> Load:
    """`wrk -t2 -c64 --latency` with `script`; stopped early (SIGINT, wrk still reports) if the
    server's backends together pass `max_backend_gib` of private memory. Raises on any error."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
        ]
        wrk = subprocess.Popen(
            [*command, "-s", lua.name, server.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stopped = False
        try:
            while wrk.poll() is None:
                time.sleep(2)
                if not stopped and backend_memory(server.database_url).total_mib > max_backend_gib * 1024:
                    log(f"  memory guard: backends passed {max_backend_gib} GiB; stopping the round")
                    wrk.send_signal(2)
                    stopped = True
            out, err = wrk.communicate()
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
    if bad := _ERRORS.search(out):
        raise RuntimeError(f"wrk saw errors: {bad.group(0)}\n{out}")
    rps, count = _RPS.search(out), _COUNT.search(out)
    latency = {q: float(v) * _UNIT_MS[unit] for q, v, unit in _LATENCY.findall(out)}
    if not rps or not count or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk output:\n{out}\n{err}")
    timeouts = _TIMEOUTS.search(out)
    return Load(
        float(rps.group(1)),
        int(count.group(1)),
        latency["50"],
        latency["99"],
        stopped,
        int(timeouts.group(1)) if timeouts else 0,
    )


@dataclass(frozen=True)
class Round:
    """One round: the load, app CPU and transactions per request, backends started, memory after."""

    kind: str  # "2" or "N"
    load: Load
    cpu_ms_per_request: float
    db_cpu_ms_per_request: float
    transactions_per_request: float
    backends_started: int
    memory: Memory
    blocks_read_per_request: float = 0.0  # read from outside shared buffers (the OS cache or disk)


def measure(server: Server, kind: str, script: str, seconds: float, max_backend_gib: float) -> Round:
    """One round of `script` with its counters."""
    db_before = patiently(lambda: database_counters(server.database_url))
    cpu_before = tree_cpu_seconds(server.process.pid)
    load = run_wrk(server, script, seconds, max_backend_gib)
    cpu = tree_cpu_seconds(server.process.pid) - cpu_before
    pg_cpu = patiently(lambda: database_counters(server.database_url)).server_cpu - db_before.server_cpu
    time.sleep(STATS_DELAY_S)  # backends report their transaction counts within a second
    db_after = patiently(lambda: database_counters(server.database_url))
    count = max(load.count, 1)
    return Round(
        kind,
        load,
        cpu * 1000 / count,
        pg_cpu * 1000 / count,
        (db_after.transactions - db_before.transactions) / count,
        db_after.sessions - db_before.sessions,
        backend_memory(server.database_url),
        (db_after.blocks_read - db_before.blocks_read) / count,
    )


# ---------------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """One design at one tenant count."""

    design: str
    tenants: int
    warm_memory: Memory
    rounds: list[Round] = field(default_factory=list)

    def ratios(self) -> tuple[float, float]:
        """Median over round pairs of spread/2 throughput, and of spread/2 p99."""
        twos = [r for r in self.rounds if r.kind == "2"]
        spreads = [r for r in self.rounds if r.kind == "N"]
        pairs = list(zip(twos, spreads, strict=False))
        return (
            median([s.load.rps / t.load.rps for t, s in pairs]),
            median([s.load.p99_ms / t.load.p99_ms for t, s in pairs]),
        )

    def last_memory(self) -> Memory:
        """Memory after the last spread round."""
        return [r for r in self.rounds if r.kind == "N"][-1].memory


WARMUP_MIN_S = 90.0
WARMUP_PER_TENANT_S = 0.018


def warmup_seconds(args: argparse.Namespace, tenants: int) -> float:
    """The spread warm-up before a server's rounds: `--warmup`, else 90 s or 18 ms per tenant if longer
    (180 s at 10,000 tenants: each tenant's first requests on each backend that will serve it, which
    build that backend's catalog entries for its schema, land in the warm-up rather than in the rounds;
    at 10,000 tenants PostgreSQL's CPU per spread request was still falling after 90 s, bench/README.md)."""
    if args.warmup is not None:
        return float(args.warmup)
    return max(WARMUP_MIN_S, WARMUP_PER_TENANT_S * tenants)


def run_design(
    url: str,
    redis_url: str,
    design: str,
    tenants: Sequence[BenchTenant],
    headers: dict[str, dict[str, str]],
    args: argparse.Namespace,
) -> PhaseResult:
    """Warm up one server on every tenant, then interleave 2-tenant and spread rounds."""
    two = lua_script(tenants[:2], headers)
    spread = lua_script(tenants, headers)
    probe = (tenants[0].host, headers[tenants[0].host])
    with serve(url, redis_url, design, probe) as server:
        warmup = warmup_seconds(args, len(tenants))
        run_wrk(server, two, max(2.0, warmup / 10), args.max_backend_gib)
        log(f"  {design}/{len(tenants)}: warm-up {warmup:.0f} s spread over every tenant")
        run_wrk(server, spread, warmup, args.max_backend_gib)
        result = PhaseResult(design, len(tenants), backend_memory(url))
        for n in range(args.rounds):
            for kind, script in (("2", two), ("N", spread)):
                found = measure(server, kind, script, args.seconds, args.max_backend_gib)
                result.rounds.append(found)
                log(
                    f"  {design}/{len(tenants)} round {n + 1} on {kind if kind == '2' else len(tenants)} "
                    f"tenants: {found.load.rps:.0f} req/s, p99 {found.load.p99_ms:.1f} ms, "
                    f"app {found.cpu_ms_per_request:.2f} / PG {found.db_cpu_ms_per_request:.2f} CPU ms/req, "
                    f"{found.transactions_per_request:.2f} tx/req, "
                    f"{found.blocks_read_per_request:.2f} blocks read/req, "
                    f"{found.backends_started} backends started, "
                    f"memory per backend median {found.memory.median_mib:.1f} MiB "
                    f"(max {found.memory.max_mib:.1f}, sum {found.memory.total_mib:.0f}, "
                    f"{found.memory.backends} backends)"
                )
    return result


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def report(
    args: argparse.Namespace,
    argv: Sequence[str],
    results: list[PhaseResult],
    provisioning: list[str],
    facts: str,
) -> Report:
    """The markdown section."""
    rounds_rows = []
    for res in results:
        for r in res.rounds:
            rounds_rows.append(
                [
                    res.design,
                    str(res.tenants),
                    "2" if r.kind == "2" else str(res.tenants),
                    _f(r.load.rps, 0)
                    + (" (stopped by the memory guard)" if r.load.stopped else "")
                    + (f" ({r.load.timeouts} timeouts)" if r.load.timeouts else ""),
                    _f(r.load.p50_ms),
                    _f(r.load.p99_ms),
                    _f(r.cpu_ms_per_request, 2),
                    _f(r.db_cpu_ms_per_request, 2),
                    _f(r.transactions_per_request, 2),
                    _f(r.blocks_read_per_request, 2),
                    str(r.backends_started),
                    f"{r.memory.backends} / {_f(r.memory.median_mib)} / {_f(r.memory.max_mib)} / "
                    f"{_f(r.memory.total_mib, 0)}",
                ]
            )
    summary_rows = []
    goals = []
    for res in results:
        rps_ratio, p99_ratio = res.ratios()
        mem = res.last_memory()
        summary_rows.append(
            [
                res.design,
                str(res.tenants),
                _f(rps_ratio, 3),
                _f(p99_ratio, 3),
                f"{_f(res.warm_memory.median_mib)} / {_f(res.warm_memory.max_mib)}",
                f"{_f(mem.median_mib)} / {_f(mem.max_mib)}",
                _f(mem.total_mib, 0),
                str(mem.backends),
            ]
        )
        goals.append(
            Goal(
                f"{res.design}, {res.tenants} tenants: throughput spread/2",
                ">= 0.8",
                _f(rps_ratio, 3),
                rps_ratio >= 0.8,
            )
        )
        goals.append(
            Goal(
                f"{res.design}, {res.tenants} tenants: p99 spread/2",
                "<= 1.25",
                _f(p99_ratio, 3),
                p99_ratio <= 1.25,
            )
        )
    warmups = ", ".join(
        f"{warmup_seconds(args, n):.0f} s at {n:,}" for n in sorted({res.tenants for res in results})
    )
    summary = (
        f"One database, tenants provisioned in phases; `platformctl serve --workers 2` per design "
        f"({', '.join(f'`{d}`' for d in args.designs)}; `on` = the defaults with "
        f"{', '.join(f'{k}={v}' for k, v in DESIGNS['on'].items())}; `off` = "
        f"{', '.join(f'{k}={v}' for k, v in DESIGNS['off'].items())}; `off-kept` = `off` with "
        f"DB_POOL_SIZE=20, DB_MAX_OVERFLOW=0: a pool that keeps its backends), `wrk -t2 -c{CONNECTIONS}` on "
        f"`GET {PATH}` with each tenant owner's bearer token, a warm-up spread over every tenant "
        f"({warmups}), then {args.rounds} interleaved pairs of {args.seconds:.0f} s rounds (2 tenants, "
        f"then every tenant). Memory: `Anonymous` of /proc/<pid>/smaps_rollup of the app's backends on "
        f"the benchmark database (count / median / max / sum MiB). PG CPU: the whole PostgreSQL server's "
        f"CPU over the round (every backend, also those that came and went, and its background "
        f"processes; with `DATABASE_URL` unset the benchmark runs a server of its own). Blocks read: "
        f"read by the database's backends from outside shared buffers. Machine: {facts}."
    )
    return Report(
        title="Flat across tenants: load spread over N tenants vs 2, design on and off",
        command=command_line(MODULE, argv) + f" (commit {code_version()})",
        summary=summary,
        tables=[
            (
                [
                    "design",
                    "tenants",
                    "req/s ratio spread/2",
                    "p99 ratio spread/2",
                    "MiB per backend after warm-up (median / max)",
                    "after the last spread round (median / max)",
                    "sum MiB",
                    "backends",
                ],
                summary_rows,
            ),
            (
                [
                    "design",
                    "tenants",
                    "load on",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "app CPU ms/req",
                    "PG CPU ms/req",
                    "tx/req",
                    "blocks read/req",
                    "backends started",
                    "memory after (n / median / max / sum MiB)",
                ],
                rounds_rows,
            ),
        ],
        goals=goals,
        notes=provisioning,
    )


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="1000,10000", help="tenant counts of the phases, ascending")
    parser.add_argument("--designs", default="on,off", help="designs per phase, in order: on, off, off-kept")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved pairs of rounds per design")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each round")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help=f"spread warm-up per server in seconds (default: {WARMUP_MIN_S:.0f}, or "
        f"{WARMUP_PER_TENANT_S * 1000:.0f} ms per tenant if longer)",
    )
    parser.add_argument("--jobs", type=int, default=4, help="provisioning processes")
    parser.add_argument(
        "--on-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the `on` design on top of DESIGNS['on'] (repeatable)",
    )
    parser.add_argument("--max-backend-gib", type=float, default=8.0, help="memory guard (all backends)")
    args = parser.parse_args(list(argv))
    args.designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    DESIGNS["on"].update(item.split("=", 1) for item in args.on_setting)
    phases = sorted(int(n) for n in args.tenants.split(","))
    if phases[0] < 2 or any(d not in DESIGNS for d in args.designs):
        parser.error(f"tenant counts must be >= 2; designs are {', '.join(DESIGNS)}")

    results: list[PhaseResult] = []
    notes: list[str] = []
    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "scale") as url:
        from tenants.fleet import upgrade_public

        settings = bench_settings(url, redis_url)
        upgrade_public(settings)
        facts = ", ".join(f"{k} {v}" for k, v in machine_facts(url).items())
        tenants: list[BenchTenant] = []
        for count in phases:
            missing = count - len(tenants)
            log(f"provisioning {missing} tenants (to {count}) with {args.jobs} processes")
            with Timer() as took:
                tenants += provision(url, redis_url, len(tenants), missing, args.jobs)
            vacuumed_s = vacuum_catalogs(url)
            notes.append(
                f"Provisioned {missing} tenants (to {count}) in {took.elapsed:.0f} s "
                f"({missing / took.elapsed:.1f}/s, {args.jobs} processes, "
                f"create_tenant with owner and {ITEMS} items); system catalogs then vacuumed and "
                f"analyzed (untimed) in {vacuumed_s:.0f} s."
            )
            log(notes[-1])
            headers = {t.host: bearer_headers(settings, t.tenant_id, t.user_id) for t in tenants}
            for design in args.designs:
                results.append(run_design(url, redis_url, design, tenants, headers, args))
    result = report(args, argv, results, notes, facts)
    result.elapsed_s = total.elapsed
    return result


def main() -> None:
    """Print the report."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
