"""`platformctl billing ...`: sync the plan catalogue to Stripe, replay parked events."""

from __future__ import annotations

from typing import Annotated

import typer

from billing.catalog import get_catalog
from billing.plans_sync import sync_plans
from billing.stripe_client import get_client
from platform_core.cli.common import console, database
from platform_core.operators import tenants as tenant_actions

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
    with database(pool_size=1) as db, db.sync_session() as session, session.begin():
        ids = tenant_actions.replay_stripe_events(
            session, include_failed=include_failed, event_ids=event_id or None
        )
    console.print(f"queued {len(ids)} event(s) again")
