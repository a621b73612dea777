"""From a Stripe webhook's arrival to the tenant's new access being enforced.

Everything real, as in `make dev`: localstripe behind the stand-in, the platform app under uvicorn
(with its NOTIFY listener), a relay and a worker (`platformctl relay`, `platformctl worker`). Each
sample changes the tenant's subscription in Stripe (cancel it, or subscribe again), then posts the
signed event to /webhooks/stripe and polls `GET /api/v1/items` every 5 ms until the answer follows
(402 subscription_inactive after a cancellation, 200 after a new subscription). The time from the
webhook POST to that answer: verification and storage, outbox, relay, broker, worker, the fetch from
Stripe, the commit, NOTIFY, the API's billing state cache refresh.

    python -m bench.billing_enforcement [--samples 20]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

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
    percentile,
    services,
    spawn_platformctl,
    stop_process,
)
from bench.auth_overhead import add_owner
from bench.tenancy_overhead import HOST, PATH, seed, serve
from billing.catalog import get_catalog
from billing.models import BillingAccount, BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings
from billing.stripe_client import make_client
from platform_core.devstack.stripe_servers import local_stripe
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT

MODULE = "bench.billing_enforcement"
SECRET = "whsec_bench_enforcement"
API_KEY = "sk_test_bench"


def _signed(event_type: str, obj: dict) -> tuple[bytes, str]:
    now = int(time.time())
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": now,
            "data": {"object": obj},
        }
    ).encode()
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={digest}"


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args(list(argv))
    samples: list[float] = []
    with (
        Timer() as total,
        services() as (server_url, redis_url),
        bench_database(server_url, "enforce") as url,
        tempfile.TemporaryDirectory() as workdir,
        local_stripe(Path(workdir)) as api_base,
    ):
        log(f"billing enforcement: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        tenant_id = uuid.UUID(schema.removeprefix("t_"))
        settings = bench_settings(url, redis_url)
        client = make_client(BillingSettings(stripe_api_key=API_KEY, stripe_api_base=api_base))
        db = Database(settings, pool_size=1)
        try:
            with db.sync_session() as session, session.begin():
                sync_plans(session, client, get_catalog())
                session.flush()
                price = session.get_one(BillingPlan, "pro").stripe_price_monthly
            token = client.v1.tokens.create(
                params={
                    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
                }
            )
            customer = client.v1.customers.create(params={"email": "bench@example.com", "source": token.id})
            _, owner_id = add_owner(url, redis_url, schema)
            with db.sync_session() as session, session.begin():
                session.add(
                    BillingAccount(
                        tenant_id=tenant_id, stripe_customer_id=customer.id, plan_key="free", status="none"
                    )
                )
        finally:
            db.dispose_sync()
        auth = bearer_headers(settings, tenant_id, owner_id)
        env = dict(os.environ)
        env.update(
            ENV="test",
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            BENCH_TENANT_SCHEMA=schema,
            PYTHONPATH=str(PROJECT_ROOT),
            STRIPE_API_KEY=API_KEY,
            STRIPE_API_BASE=api_base,
            STRIPE_WEBHOOK_SECRET=SECRET,
            CELERY_CONCURRENCY="2",
            LOG_LEVEL="WARNING",
        )
        worker, relay = spawn_platformctl(env, "worker"), spawn_platformctl(env, "relay")
        try:
            with serve("platform", "bench._apps:full_app", env, auth) as server:
                base = f"http://127.0.0.1:{server.port}"
                with httpx.Client(timeout=30) as http:
                    subscription = None
                    for n in range(args.samples + 2):
                        if subscription is None:
                            subscription = client.v1.subscriptions.create(
                                params={"customer": customer.id, "items": [{"plan": price}]}
                            ).id
                            event_type, expected = "customer.subscription.created", 200
                        else:
                            client.v1.subscriptions.cancel(subscription)
                            event_type, expected = "customer.subscription.deleted", 402
                        obj = {"object": "subscription", "id": subscription, "customer": customer.id}
                        if expected == 402:
                            subscription = None
                        body, signature = _signed(event_type, obj)
                        start = time.perf_counter()
                        posted = http.post(
                            f"{base}/webhooks/stripe",
                            content=body,
                            headers={
                                "host": "example.com",
                                "content-type": "application/json",
                                "stripe-signature": signature,
                            },
                        )
                        if posted.status_code != 200:
                            raise RuntimeError(f"webhook answered {posted.status_code}: {posted.text[:200]}")
                        deadline = start + 60
                        while (
                            http.get(f"{base}{PATH}", headers={"host": HOST, **auth}).status_code != expected
                        ):
                            if time.perf_counter() > deadline:
                                raise RuntimeError(f"access did not follow {event_type} within 60 s")
                            time.sleep(0.005)
                        if n >= 2:  # the first two warm the worker and the caches
                            samples.append((time.perf_counter() - start) * 1000)
                        took = (time.perf_counter() - start) * 1000
                        log(f"sample {n + 1}: {event_type} enforced after {took:.0f} ms")
        finally:
            stop_process(relay)
            stop_process(worker)
    report = Report(
        title="Billing: from a webhook's arrival to the new access being enforced",
        command=command_line(MODULE, argv),
        summary=(
            f"{args.samples} samples, alternating a new subscription (enforced when GET /api/v1/items "
            "answers 200) and its cancellation (enforced when it answers 402): signed event posted to "
            "/webhooks/stripe, then polled every 5 ms. In the loop: verification and storage, outbox, "
            "relay, Redis, worker (prefork, 2 processes), the fetch from localstripe behind the stand-in, "
            "the commit, NOTIFY, the API's billing state cache."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            ["webhook to enforcement", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            [
                [
                    "all samples",
                    *(f"{percentile(samples, q):.0f}" for q in (0.5, 0.9, 0.99)),
                    f"{max(samples):.0f}",
                ]
            ],
        )
    )
    report.goals.append(
        Goal("webhook to enforcement p50 (reported)", "report", f"{percentile(samples, 0.5):.0f} ms", True)
    )
    report.goals.append(
        Goal("webhook to enforcement p99 (reported)", "report", f"{percentile(samples, 0.99):.0f} ms", True)
    )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
