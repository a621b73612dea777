"""`platformctl billing ...`: sync the plan catalogue to Stripe, replay parked events."""

from __future__ import annotations

from typing import Annotated

import typer

from billing import repository as billing_repository
from billing.catalog import get_catalog
from billing.plans_sync import sync_plans
from billing.stripe_client import get_client
from billing.webhooks import PROCESS_TASK
from platform_core.cli.common import console, database
from platform_core.kernel.outbox import enqueue

app = typer.Typer(help="Billing: Stripe plans and events.", no_args_is_help=True)


@app.command("sync-plans")
def sync_plans_command() -> None:
    """Create or update Stripe products and prices to match billing/plans.toml (idempotent)."""
    catalog = get_catalog()
    with database(pool_size=1) as db, db.sync_session() as session, session.begin():
        results = sync_plans(session, get_client(), catalog)
    for result in results:
        what = ", ".join(result.changes) if result.changes else "unchanged"
        console.print(f"{result.key}: {what}")
    console.print(
        f"catalogue version {catalog.version}: {sum(bool(r.changes) for r in results)} plan(s) changed"
    )


@app.command("replay-events")
def replay_events(
    event_id: Annotated[list[str] | None, typer.Option("--event", help="Only these event ids.")] = None,
    include_failed: Annotated[bool, typer.Option(help="Also events still being retried.")] = False,
) -> None:
    """Queue parked (and optionally failed) Stripe events for processing again."""
    statuses = ["parked", "failed"] if include_failed else ["parked"]
    with database(pool_size=1) as db, db.sync_session() as session, session.begin():
        ids = billing_repository.events_to_replay(session, statuses=statuses, event_ids=event_id)
        if ids:
            billing_repository.requeue_events(session, event_ids=ids)
        for one in ids:
            enqueue(session, PROCESS_TASK, event_id=one)
    console.print(f"queued {len(ids)} event(s) again")
