"""Stripe webhook ingestion: signed events verified, stored and acknowledged per second.

The platform app under uvicorn (1 worker) receives unique, correctly signed events on the apex host
from an httpx load loop with a fixed concurrency; each is verified on the raw body with the SDK,
inserted into `stripe_event` and its processing task written to the outbox, all before the 2xx. A
second pass replays the same events: duplicates are acknowledged without a second row. Processing
itself (the billing queue) is not part of this measurement.

    python -m bench.webhook_ingestion [--events 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence

import httpx
import psycopg

from bench._common import (
    BASE_DOMAIN,
    Goal,
    Report,
    Timer,
    bench_database,
    command_line,
    log,
    percentile,
    services,
)
from bench.tenancy_overhead import seed, serve
from platform_core.kernel.settings import PROJECT_ROOT, to_libpq_url

MODULE = "bench.webhook_ingestion"
SECRET = "whsec_bench_secret"


def signed_events(count: int) -> list[tuple[bytes, str]]:
    """`count` unique subscription events with their Stripe-Signature headers."""
    now = int(time.time())
    events = []
    for _ in range(count):
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "type": "customer.subscription.updated",
                "created": now,
                "livemode": False,
                "data": {"object": {"object": "subscription", "id": "sub_bench", "customer": "cus_bench"}},
            }
        ).encode()
        digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
        events.append((body, f"t={now},v1={digest}"))
    return events


async def post_all(url: str, events: list[tuple[bytes, str]], concurrency: int) -> tuple[float, list[float]]:
    """Post every event; return (events per second, per-request latencies in ms)."""
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers={"Host": BASE_DOMAIN}, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body, signature = queue.get_nowait()
                start = time.perf_counter()
                response = await client.post(
                    url,
                    content=body,
                    headers={"content-type": "application/json", "stripe-signature": signature},
                )
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(events) / elapsed, latencies


def stored(database_url: str) -> int:
    """Rows in stripe_event."""
    with psycopg.connect(to_libpq_url(database_url)) as conn:
        return int(conn.execute("SELECT count(*) FROM public.stripe_event").fetchone()[0])  # type: ignore[index]


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(list(argv))
    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "hooks") as url:
        log(f"webhook ingestion: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        env = dict(os.environ)
        env.update(
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            BENCH_TENANT_SCHEMA=schema,
            PYTHONPATH=str(PROJECT_ROOT),
            DB_POOL_SIZE=str(args.concurrency),
            STRIPE_WEBHOOK_SECRET=SECRET,
        )
        events = signed_events(args.events)
        # serve() waits for the items page, which the unauthenticated variant answers; webhooks are the same.
        with serve("platform", "bench._apps:tenant_app_without_auth", env) as server:
            endpoint = f"http://127.0.0.1:{server.port}/webhooks/stripe"
            asyncio.run(post_all(endpoint, signed_events(50), args.concurrency))  # warm-up
            before = stored(url)
            rate, latencies = asyncio.run(post_all(endpoint, events, args.concurrency))
            after_first = stored(url)
            replay_rate, replay_latencies = asyncio.run(post_all(endpoint, events, args.concurrency))
            after_replay = stored(url)
    if after_first - before != args.events or after_replay != after_first:
        raise RuntimeError("events were lost or stored twice")
    report = Report(
        title="Stripe webhook ingestion: verified, stored and acknowledged",
        command=command_line(MODULE, argv),
        summary=(
            f"{args.events} unique signed events posted to /webhooks/stripe on the apex host by an httpx "
            f"load loop with {args.concurrency} connections, against the platform app under uvicorn "
            "(1 worker). Each 200 means: signature verified on the raw body, event row inserted, "
            "processing task in the outbox, committed. Then the same events again (duplicates). Every "
            "event was stored exactly once (checked)."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            ["pass", "events/s", "p50 ms", "p99 ms"],
            [
                [
                    "new events",
                    f"{rate:.0f}",
                    f"{percentile(latencies, 0.5):.1f}",
                    f"{percentile(latencies, 0.99):.1f}",
                ],
                [
                    "duplicates",
                    f"{replay_rate:.0f}",
                    f"{percentile(replay_latencies, 0.5):.1f}",
                    f"{percentile(replay_latencies, 0.99):.1f}",
                ],
            ],
        )
    )
    report.goals.append(Goal("webhook ingestion (reported)", "report", f"{rate:.0f} events/s", True))
    report.notes.append(
        "The time from a webhook's arrival to the new access being enforced is bench.billing_enforcement."
    )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
