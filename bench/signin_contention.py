"""Does a sign-in stall the other requests of its process? List latency with and without sign-ins.

Two uvicorn processes serve the platform app (bench/_apps.py): the current one, where argon2 runs in
worker threads, and the same app with argon2 run on the event loop (the behaviour before; patched in
that server process only). In alternating rounds, for each server: GET /api/v1/items?page_size=20
with a bearer token, one request at a time, for `--duration` seconds, first alone, then while
`--signers` clients sign in back to back. Reported: p50 and p99 of the list requests in each case,
their ratios with/without sign-ins (median over rounds), and the sign-ins per second.

    python -m bench.signin_contention [--rounds 6] [--duration 4] [--signers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench._common import (
    Goal,
    Report,
    Timer,
    bearer_headers,
    bench_database,
    bench_settings,
    command_line,
    log,
    median,
    percentile,
    services,
)
from bench.auth_overhead import EMAIL, PASSWORD, add_owner
from bench.tenancy_overhead import HOST, Server, seed, serve
from platform_core.kernel.security.passwords import hasher
from platform_core.kernel.settings import PROJECT_ROOT

MODULE = "bench.signin_contention"
GOAL_P50_RATIO = 1.5  # threads: list p50 while signing in / alone


@dataclass(frozen=True)
class Sample:
    """One measurement: list latencies (ms) and the sign-ins completed meanwhile."""

    latencies_ms: list[float]
    sign_ins: int
    seconds: float

    def p(self, q: float) -> float:
        """A percentile of the list latencies."""
        return percentile(self.latencies_ms, q)


def _sign_in_loop(base_url: str, stop: threading.Event, done: list[int]) -> None:
    with httpx.Client(base_url=base_url, headers={"Host": HOST}, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
            if response.status_code != 200:
                raise RuntimeError(f"sign-in answered {response.status_code}: {response.text[:200]}")
            done.append(1)


def sample(server: Server, auth: dict[str, str], duration: float, signers: int) -> Sample:
    """List latencies for `duration` seconds, with `signers` clients signing in meanwhile."""
    base = server.url.split("/api/")[0]
    stop, done = threading.Event(), []
    threads = [threading.Thread(target=_sign_in_loop, args=(base, stop, done)) for _ in range(signers)]
    for thread in threads:
        thread.start()
    latencies: list[float] = []
    with httpx.Client(headers={"Host": HOST, **auth}, timeout=30) as client:
        client.get(server.url)  # the connection, before timing
        start = time.perf_counter()
        while time.perf_counter() - start < duration:
            began = time.perf_counter()
            response = client.get(server.url)
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{server.name} answered {response.status_code}")
        elapsed = time.perf_counter() - start
    stop.set()
    for thread in threads:
        thread.join()
    return Sample(latencies, len(done), elapsed)


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--signers", type=int, default=2, help="clients signing in back to back")
    args = parser.parse_args(list(argv))

    cases = [(name, load) for name in ("threads", "loop") for load in ("alone", "signing in")]
    samples: dict[tuple[str, str], list[Sample]] = {case: [] for case in cases}
    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "signin") as url:
        log(f"sign-in contention: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        tenant_id, user_id = add_owner(url, redis_url, schema)
        settings = bench_settings(url, redis_url)
        auth = bearer_headers(settings, tenant_id, user_id)
        env = dict(os.environ)
        env.update(
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            BENCH_TENANT_SCHEMA=schema,
            PYTHONPATH=str(PROJECT_ROOT),
            LOGIN_LIMIT_PER_IP="1000000/minute",
            LOGIN_LIMIT_PER_ACCOUNT="1000000/minute",
        )
        with (
            serve("threads", "bench._apps:full_app", env, auth) as threaded,
            serve("loop", "bench._apps:full_app_hashing_on_the_loop", env, auth) as on_loop,
        ):
            servers = {"threads": threaded, "loop": on_loop}
            for server in servers.values():  # warm-up: connections, caches, the first hashes
                sample(server, auth, 1.0, args.signers)
            for n in range(args.rounds):
                order = ("loop", "threads") if n % 2 else ("threads", "loop")
                for name in order:
                    for load in ("alone", "signing in"):
                        signers = args.signers if load == "signing in" else 0
                        samples[(name, load)].append(sample(servers[name], auth, args.duration, signers))
                log(
                    f"round {n + 1}/{args.rounds}: "
                    + ", ".join(f"{k[0]}/{k[1]} p50 {s[-1].p(0.5):.1f} ms" for k, s in samples.items())
                )

    def med(name: str, load: str, q: float) -> float:
        return median([s.p(q) for s in samples[(name, load)]])

    def ratio(name: str, q: float) -> float:
        pairs = zip(samples[(name, "signing in")], samples[(name, "alone")], strict=True)
        return median([busy.p(q) / calm.p(q) for busy, calm in pairs])

    def rate(name: str) -> float:
        return median([s.sign_ins / s.seconds for s in samples[(name, "signing in")]])

    params = hasher()
    report = Report(
        title="Sign-in contention: GET /api/v1/items latency while sign-ins run, argon2 off vs on the loop",
        command=command_line(MODULE, argv),
        summary=(
            "The platform app under uvicorn twice (1 worker each): argon2 in worker threads (current), and "
            "argon2 on the event loop (the behaviour before, patched in that server only). For each, in "
            f"{args.rounds} alternating rounds of {args.duration:.0f} s: sequential GET "
            "/api/v1/items?page_size=20 with a bearer token (one connection), alone and while "
            f"{args.signers} clients sign in back to back (POST /api/v1/auth/token, argon2id "
            f"time_cost={params.time_cost}, memory_cost={params.memory_cost} KiB). Ratio = median over "
            "rounds of (with sign-ins / alone) in the same round."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            [
                "argon2",
                "list p50 alone",
                "list p50 signing in",
                "list p99 alone",
                "list p99 signing in",
                "p50 ratio",
                "p99 ratio",
                "sign-ins/s",
            ],
            [
                [
                    "worker threads" if name == "threads" else "event loop (before)",
                    f"{med(name, 'alone', 0.5):.1f} ms",
                    f"{med(name, 'signing in', 0.5):.1f} ms",
                    f"{med(name, 'alone', 0.99):.1f} ms",
                    f"{med(name, 'signing in', 0.99):.1f} ms",
                    f"{ratio(name, 0.5):.2f}",
                    f"{ratio(name, 0.99):.2f}",
                    f"{rate(name):.0f}",
                ]
                for name in ("threads", "loop")
            ],
        )
    )
    report.tables.append(
        (
            ["round", *(f"{name} {load} p50/p99 ms" for name, load in cases)],
            [
                [str(i + 1), *(f"{samples[c][i].p(0.5):.1f} / {samples[c][i].p(0.99):.1f}" for c in cases)]
                for i in range(args.rounds)
            ],
        )
    )
    threads_p50 = ratio("threads", 0.5)
    report.goals.append(
        Goal(
            "list p50 while signing in / alone, argon2 in threads",
            f"<= {GOAL_P50_RATIO:.1f}",
            f"{threads_p50:.2f}",
            threads_p50 <= GOAL_P50_RATIO,
        )
    )
    report.goals.append(
        Goal("same, argon2 on the loop (before; reported)", "report", f"{ratio('loop', 0.5):.2f}", True)
    )
    report.goals.append(
        Goal(
            "list p99 ratio: threads / loop (reported)",
            "report",
            f"{ratio('threads', 0.99):.2f} / {ratio('loop', 0.99):.2f}",
            True,
        )
    )
    report.notes.append(
        f"The machine has {os.cpu_count()} cores: the hashing threads and the event loop share them, so "
        "with threads the list still pays for CPU contention, not for waiting behind a hash."
    )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
