"""`platformctl dev`: the whole platform on one machine, with local services when none are configured."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer

from platform_core.cli.common import console, err_console
from platform_core.errors import AppError
from platform_core.log import configure_logging
from platform_core.settings import PROJECT_ROOT, get_settings

DEMO_OWNER_EMAIL = "owner@example.com"
DEMO_OWNER_PASSWORD = "demo-owner-password"  # noqa: S105 - the local demo tenant's published password
DEMO_SLUG = "demo"


def _prepare(database_url: str) -> None:
    """Create the platform database if missing, migrate, and create the demo tenant."""
    from platform_core.db.bootstrap import ensure_database
    from platform_core.db.engines import Database
    from tenants.fleet import upgrade_fleet
    from tenants.service import TenantService

    ensure_database(database_url)
    get_settings.cache_clear()
    settings = get_settings()
    report = upgrade_fleet(settings, jobs=2)
    console.print(f"migrated: public and {report.total} tenant schema(s) at {report.head}")
    db = Database(settings, pool_size=1)
    try:
        service = TenantService(db, settings)
        try:
            service.get(DEMO_SLUG)
        except AppError:
            service.create(
                slug=DEMO_SLUG, name="Demo", owner_email=DEMO_OWNER_EMAIL, owner_password=DEMO_OWNER_PASSWORD
            )
            console.print("created tenant 'demo'")
        if os.environ.get("STRIPE_API_KEY"):
            _sync_plans(db)
    finally:
        db.sync_engine.dispose()


def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    root: Annotated[Path, typer.Option(help="Where local services keep their data.")] = PROJECT_ROOT / ".dev",
) -> None:
    """Start local services as needed, migrate, seed the demo tenant and serve the API with reload."""
    from platform_core.devstack._common import pick_port
    from platform_core.devstack.stack import LocalStack  # dev extra only: not in production images

    os.environ.setdefault("ENV", "development")
    os.environ.setdefault("LOG_FORMAT", "console")
    os.environ.setdefault("TENANT_URL_TEMPLATE", f"http://{{slug}}.{{base_domain}}:{port}")
    # Metrics on 9100 when it is free (another process, e.g. a node exporter, may hold it).
    os.environ.setdefault("METRICS_PORT", str(pick_port(None, 9100)))
    get_settings.cache_clear()
    configure_logging(get_settings().log_level, get_settings().log_format)
    stack = LocalStack(
        root,
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
        tag="dev",
    )
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background, where SIGINT is ignored
    try:
        with contextlib.ExitStack() as services:
            # ExitStack unwinds in reverse: the children (registered after the services) stop first.
            services.enter_context(stack)
            for service in stack.started:
                console.print(f"started local {service.name}: {service.url}")
            os.environ["DATABASE_URL"] = _platform_db_url(stack.database_url)
            os.environ["REDIS_URL"] = stack.redis_url
            if not os.environ.get("SMTP_HOST"):
                sink = services.enter_context(_mail_sink(root / "mail"))
                os.environ.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port), "SMTP_TLS": "none"})
                console.print(
                    f"started local SMTP sink on 127.0.0.1:{sink.port}: mail is stored in {root / 'mail'}"
                )
            base = get_settings().base_domain
            if not os.environ.get("STRIPE_API_KEY"):
                api_base = services.enter_context(_local_stripe(root / "stripe", f"http://{base}:{port}"))
                console.print(f"started local Stripe (localstripe behind the stand-in): {api_base}")
            if not (os.environ.get("S3_ENDPOINT_URL") or os.environ.get("S3_BUCKET")):
                s3 = services.enter_context(_local_s3(root / "s3"))
                os.environ.update(s3.environ())
                console.print(f"started local S3 (moto, in memory): {s3.endpoint_url}, bucket {s3.bucket}")
            _prepare(os.environ["DATABASE_URL"])
            services.callback(_stop_children, children)
            children.append(_spawn("serve", "--port", str(port), "--reload"))
            children.append(_spawn("worker", "--concurrency", "2"))
            children.append(_spawn("relay"))
            children.append(_spawn("beat", "--schedule-file", str(root / "dev" / "celerybeat-schedule")))
            _wait_for_api(port, children)
            console.print(
                f"\n[bold green]ready[/bold green]  http://{DEMO_SLUG}.{base}:{port}/docs   "
                f"(health: http://{base}:{port}/readyz)   API, worker, relay and beat running; "
                "Ctrl-C stops everything\n"
                f"sign in to demo as {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD} "
                "(POST /api/v1/auth/token; or Authorize in /docs)\n"
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            codes = ", ".join(str(child.returncode) for child in children if child.returncode is not None)
            err_console.print(f"[red]a platform process exited (code {codes}); stopping[/red]")
    except KeyboardInterrupt:
        console.print("\nstopped")


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    """Start a `platformctl` command as a child with the current environment."""
    return subprocess.Popen([sys.executable, "-m", "platform_core.cli.main", *args], cwd=PROJECT_ROOT)


def _sync_plans(db: Any) -> None:
    from billing.catalog import get_catalog
    from billing.plans_sync import sync_plans
    from billing.stripe_client import get_client

    with db.sync_session() as session, session.begin():
        changed = [r.key for r in sync_plans(session, get_client(), get_catalog()) if r.changes]
    console.print(f"plans synced to Stripe ({', '.join(changed) or 'unchanged'})")


@contextlib.contextmanager
def _local_stripe(directory: Path, platform_url: str) -> Iterator[str]:
    """localstripe and the stand-in, with the platform's webhook registered and the plans synced."""
    from platform_core.devstack.stripe_servers import local_stripe, register_webhook

    with local_stripe(directory) as api_base:
        secret = f"whsec_dev_{secrets.token_hex(16)}"
        os.environ.update(
            {"STRIPE_API_KEY": "sk_test_dev", "STRIPE_API_BASE": api_base, "STRIPE_WEBHOOK_SECRET": secret}
        )
        register_webhook(api_base, f"{platform_url}/webhooks/stripe", secret)
        yield api_base


def _local_s3(directory: Path) -> Any:
    from platform_core.devstack.s3 import local_s3  # moto is a development dependency

    return local_s3(directory)


def _mail_sink(directory: Path) -> Any:
    from workers.email.sink import MailSink  # aiosmtpd is a development dependency

    return MailSink(directory)


def _wait_for_api(port: int, children: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    """Wait until the API answers /healthz, so `ready` is printed only when it is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not start; see its output above")


def _platform_db_url(url: str) -> str:
    """Use a `platform` database on a server we started (its default database is `postgres`)."""
    if url.endswith("/postgres"):
        return url[: -len("postgres")] + "platform"
    return url


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
