"""What authentication costs per request, and how long a sign-in takes.

Two uvicorn processes serve the same platform app (bench/_apps.py), loaded in turn ABAB... like
bench.tenancy_overhead: one authenticates every request (bearer access token: signature, expiry and
tenant audience checked, then one indexed query for the user, role and session state), the other has
`authenticate` answering a fixed principal (the permission check still runs). The ratio
authenticated/unauthenticated of requests per second of `GET /api/v1/items?page_size=20` is the goal
(>= 0.85). Then sign-in latency:
sequential `POST /api/v1/auth/token` calls against the authenticating server (argon2id verification
dominates), reported with the hashing parameters and the time of one hash in this process.

    python -m bench.auth_overhead [--rounds 8] [--duration 5] [--concurrency 16] [--logins 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence

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
from bench.tenancy_overhead import HOST, ITEMS, Round, load_httpx, load_wrk, measure, seed, serve
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.engines import Database
from platform_core.kernel.security.passwords import hash_password, hasher, verify_password
from platform_core.kernel.settings import PROJECT_ROOT

MODULE = "bench.auth_overhead"
GOAL_RATIO = 0.85
EMAIL = "bench-owner@example.com"
PASSWORD = "a benchmark passphrase"


def add_owner(url: str, redis_url: str, schema: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Create the signed-in owner; return (tenant id, user id)."""
    settings = bench_settings(url, redis_url)
    db = Database(settings, pool_size=1)
    try:
        with db.sync_session(schema) as session, session.begin():
            user = User(
                email=EMAIL,
                full_name="Bench Owner",
                password_hash=hash_password(PASSWORD),
                role_id=builtin_role_id("owner"),
                email_verified_at=utcnow(),
            )
            session.add(user)
            session.flush()
            user_id = user.id
    finally:
        db.dispose_sync()
    return uuid.UUID(schema.removeprefix("t_")), user_id


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--logins", type=int, default=40, help="sequential sign-ins to time")
    parser.add_argument("--loader", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument(
        "--no-principal-cache",
        action="store_true",
        help="PRINCIPAL_CACHE_TTL_SECONDS=0: the principal query runs on every request (reported only)",
    )
    args = parser.parse_args(list(argv))
    loader_name = args.loader if args.loader != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    load = load_wrk if loader_name == "wrk" else load_httpx

    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "auth") as url:
        log(f"auth overhead: seeding {url.rsplit('/', 1)[-1]}")
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
            DB_POOL_SIZE=str(args.concurrency),
            # Sign-in throttling would refuse a benchmark's worth of sign-ins from one address.
            LOGIN_LIMIT_PER_IP="1000000/minute",
            LOGIN_LIMIT_PER_ACCOUNT="1000000/minute",
        )
        if args.no_principal_cache:
            env["PRINCIPAL_CACHE_TTL_SECONDS"] = "0"
        with (
            serve("authenticated", "bench._apps:full_app", env, auth) as authed,
            serve("unauthenticated", "bench._apps:tenant_app_without_auth", env) as open_,
        ):
            with_token = httpx.get(authed.url, headers={"Host": HOST, **auth}).json()
            without = httpx.get(open_.url, headers={"Host": HOST}).json()
            if with_token != without or with_token["total"] != ITEMS:
                raise RuntimeError("the two apps do not answer the same page")
            if httpx.get(authed.url, headers={"Host": HOST}).status_code != 401:
                raise RuntimeError("the authenticated app answered without a token")
            headers = {"authenticated": auth, "unauthenticated": {}}
            for server in (authed, open_):
                load(
                    server.url,
                    concurrency=args.concurrency,
                    duration=args.warmup,
                    headers=headers[server.name],
                )
            rounds: dict[str, list[Round]] = {"authenticated": [], "unauthenticated": []}
            for n in range(args.rounds):
                for server in (open_, authed) if n % 2 else (authed, open_):
                    rounds[server.name].append(
                        measure(
                            server,
                            load,
                            url,
                            concurrency=args.concurrency,
                            duration=args.duration,
                            headers=headers[server.name],
                        )
                    )
                last = {name: f"{r[-1].rps:.0f} req/s" for name, r in rounds.items()}
                log(f"round {n + 1}/{args.rounds}: {last}")
            login_ms, unknown_ms = time_sign_ins(authed.url.split("/api/")[0], args.logins)
        hash_ms = time_hashes(args.logins)

    a_rps = [r.rps for r in rounds["authenticated"]]
    u_rps = [r.rps for r in rounds["unauthenticated"]]
    a_cpu = [r.cpu_ms_per_request for r in rounds["authenticated"]]
    u_cpu = [r.cpu_ms_per_request for r in rounds["unauthenticated"]]
    ratio = median([a / u for a, u in zip(a_rps, u_rps, strict=True)])
    cpu_ratio = median([u / a for a, u in zip(a_cpu, u_cpu, strict=True)])
    params = hasher()
    report = Report(
        title=(
            "Authentication overhead"
            + (" (principal cache off)" if args.no_principal_cache else "")
            + ": GET /api/v1/items?page_size=20 with and without a bearer token"
        ),
        command=command_line(MODULE, argv),
        summary=(
            f"The platform app under uvicorn twice (1 worker each, pool_size {args.concurrency}), loaded "
            f"in turn by `{loader_name}` with {args.concurrency} connections, {args.duration:.0f} s per "
            f"round, {args.rounds} alternating rounds after a {args.warmup:.0f} s warm-up. One authenticates "
            "each request with one client's access token: the signature check is cached per process "
            "after the first request, and the principal query (user, role, session not revoked) runs "
            + (
                "on every request (PRINCIPAL_CACHE_TTL_SECONDS=0)"
                if args.no_principal_cache
                else "when its cache entry is missing (after a change, or every PRINCIPAL_CACHE_TTL_SECONDS)"
            )
            + "; the other has `authenticate` answer a fixed principal (the permission check "
            "still runs). Both return "
            f"the same page (checked). Sign-in: {args.logins} sequential POST /api/v1/auth/token with the "
            f"JSON body against the authenticating server; argon2id time_cost={params.time_cost}, "
            f"memory_cost={params.memory_cost} KiB, parallelism={params.parallelism}."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            [
                "round",
                "authenticated req/s",
                "unauthenticated req/s",
                "ratio",
                "auth CPU ms/req",
                "no-auth CPU ms/req",
            ],
            [
                [str(n + 1), f"{a:.0f}", f"{u:.0f}", f"{a / u:.3f}", f"{ac:.2f}", f"{uc:.2f}"]
                for n, (a, u, ac, uc) in enumerate(zip(a_rps, u_rps, a_cpu, u_cpu, strict=True))
            ],
        )
    )
    report.tables.append(
        (
            ["median", "authenticated", "unauthenticated", "ratio"],
            [
                ["req/s", f"{median(a_rps):.0f}", f"{median(u_rps):.0f}", f"{ratio:.3f}"],
                [
                    "server CPU ms/req",
                    f"{median(a_cpu):.2f}",
                    f"{median(u_cpu):.2f}",
                    f"{cpu_ratio:.3f} (no-auth/auth)",
                ],
            ],
        )
    )
    report.tables.append(
        (
            ["sign-in", "p50 ms", "p90 ms", "p99 ms"],
            [
                [
                    "POST /api/v1/auth/token (HTTP, end to end)",
                    *(f"{percentile(login_ms, q):.1f}" for q in (0.5, 0.9, 0.99)),
                ],
                [
                    "POST /api/v1/auth/token, unknown email (401)",
                    *(f"{percentile(unknown_ms, q):.1f}" for q in (0.5, 0.9, 0.99)),
                ],
                [
                    "argon2id verify alone (this process)",
                    *(f"{percentile(hash_ms, q):.1f}" for q in (0.5, 0.9, 0.99)),
                ],
            ],
        )
    )
    if args.no_principal_cache:
        report.goals.append(
            Goal("authenticated/unauthenticated, principal cache off", "report", f"{ratio:.3f}", True)
        )
    else:
        report.goals.append(
            Goal(
                "authenticated/unauthenticated throughput",
                f">= {GOAL_RATIO:.2f}",
                f"{ratio:.3f}",
                ratio >= GOAL_RATIO,
            )
        )
    report.goals.append(Goal("sign-in p50 (reported)", "report", f"{percentile(login_ms, 0.5):.1f} ms", True))
    same_time = percentile(unknown_ms, 0.5) / percentile(login_ms, 0.5)
    report.notes.append(
        f"A sign-in with an unknown email takes {same_time:.2f}x the time of a successful one (p50): the "
        "password is checked against a dummy hash, so timing does not tell whether an account exists "
        "(the successful one also writes the session and the audit entry)."
    )
    return report


def time_sign_ins(base_url: str, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds of sequential sign-ins: (`count` that succeed, `count` with an unknown email),
    interleaved so both see the same machine."""
    known: list[float] = []
    unknown: list[float] = []
    with httpx.Client(base_url=base_url, headers={"Host": HOST}, timeout=10) as client:
        for n in range(2 * count + 4):
            email, expected = (EMAIL, 200) if n % 2 == 0 else ("nobody@example.com", 401)
            start = time.perf_counter()
            response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != expected:
                raise RuntimeError(f"sign-in answered {response.status_code}: {response.text[:200]}")
            if n >= 4:  # the first calls warm up the connection and the caches
                (known if expected == 200 else unknown).append(elapsed)
    return known, unknown


def time_hashes(count: int) -> list[float]:
    """Milliseconds of `count` argon2id verifications with the platform's parameters."""
    stored = hash_password(PASSWORD)
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        verify_password(stored, PASSWORD)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
