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
from urllib.parse import urlsplit

import httpx
import typer

from platform_core.cli import dev_env
from platform_core.cli.common import console, err_console
from platform_core.kernel.log import configure_logging
from platform_core.kernel.settings import PROJECT_ROOT, get_settings

DEMO_OWNER_EMAIL = "owner@example.com"
DEMO_OWNER_PASSWORD = "demo-owner-password"  # noqa: S105 - the local demo tenant's published password
DEMO_SLUG = "demo"
DEMO_OPERATOR_EMAIL = "operator@example.com"
DEMO_OPERATOR_PASSWORD = "demo-operator-password"  # noqa: S105 - the local operator's published password


def _prepare(database_url: str) -> None:
    """Create the platform database if missing, migrate, and create the demo tenant."""
    import platform_core.app.models  # noqa: F401 - the model registry: provisioning needs every table
    from platform_core.kernel.db.bootstrap import ensure_database
    from platform_core.kernel.db.engines import Database
    from platform_core.operators import tenants as tenant_actions
    from tenants import lifecycle
    from tenants.exceptions import TenantNotFound
    from tenants.fleet import upgrade_fleet

    ensure_database(database_url)
    get_settings.cache_clear()
    settings = get_settings()
    report = upgrade_fleet(settings, jobs=2)
    console.print(f"migrated: public and {report.total} tenant schema(s) at {report.head}")
    db = Database(settings, pool_size=1)
    try:
        with db.sync_session() as session, session.begin():
            try:
                lifecycle.get_tenant(session, slug=DEMO_SLUG)
            except TenantNotFound:
                tenant_actions.create_tenant(
                    session,
                    settings=settings,
                    slug=DEMO_SLUG,
                    name="Demo",
                    owner_email=DEMO_OWNER_EMAIL,
                    owner_password=DEMO_OWNER_PASSWORD,
                )
                console.print("created tenant 'demo'")
        with db.sync_session() as session, session.begin():
            _ensure_demo_operator(session)
        if os.environ.get("STRIPE_API_KEY"):
            _sync_plans(db)
    finally:
        db.sync_engine.dispose()


def _ensure_demo_operator(session: Any) -> None:
    """The local operator account (the operator console's sign-in), created once."""
    from platform_core.operators import repository as operator_repository
    from platform_core.operators import service as operator_service

    if operator_repository.find_by_email(session, DEMO_OPERATOR_EMAIL) is None:
        operator_service.create_operator(
            session, email=DEMO_OPERATOR_EMAIL, password=DEMO_OPERATOR_PASSWORD, full_name="Demo operator"
        )
        console.print(f"created operator {DEMO_OPERATOR_EMAIL}")


def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    root: Annotated[
        Path | None,
        typer.Option(
            envvar=dev_env.ROOT_VARIABLE, help="Where local services keep their data [default: .dev]."
        ),
    ] = None,
) -> None:
    """Start local services as needed, migrate, seed the demo tenant and serve the API with reload."""
    from platform_core.devstack._common import pick_port
    from platform_core.devstack.stack import LocalStack  # dev extra only: not in production images

    root = (root or dev_env.default_root()).resolve()
    previous = _previous_ports(dev_env.read(dev_env.env_path(root)))
    exported: dict[str, str] = {}  # what the services we start need: written to .dev/env

    def export(**values: str) -> None:
        os.environ.update(values)
        exported.update(values)

    for name, value in (
        ("ENV", "development"),
        ("LOG_FORMAT", "console"),
        ("TENANT_URL_TEMPLATE", f"http://{{slug}}.{{base_domain}}:{port}"),
        # Webhook receivers on this machine (a local tool listening on localhost) may be registered.
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ):
        if name not in os.environ:
            export(**{name: value})
    # Metrics on 9100 when it is free (another process, e.g. a node exporter, may hold it).
    os.environ.setdefault("METRICS_PORT", str(pick_port(None, 9100)))
    get_settings.cache_clear()
    configure_logging(get_settings().log_level, get_settings().log_format)
    stack = LocalStack(
        root,
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
        tag="dev",
        preferred_ports={k: v for k, v in previous.items() if k in ("postgres", "redis")},
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
            started = {service.name for service in stack.started}
            database_url = (
                _platform_db_url(stack.database_url) if "postgres" in started else stack.database_url
            )
            os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": stack.redis_url})
            if "postgres" in started:
                export(DATABASE_URL=database_url)
                console.print(f"started local postgres: {database_url}")
            if "redis" in started:
                export(REDIS_URL=stack.redis_url)
                console.print(f"started local redis: {stack.redis_url}")
            if not os.environ.get("SMTP_HOST"):
                sink = services.enter_context(_mail_sink(root / "mail", previous.get("smtp")))
                export(SMTP_HOST=sink.host, SMTP_PORT=str(sink.port), SMTP_TLS="none")
                console.print(
                    f"started local SMTP sink on {sink.host}:{sink.port}: mail is stored in {root / 'mail'}"
                )
                mail_viewer = services.enter_context(_mail_viewer(root, previous.get("mail_viewer")))
                export(MAIL_VIEWER_URL=mail_viewer)
                console.print(f"started the mail viewer: {mail_viewer}")
            base = get_settings().base_domain
            if not os.environ.get("STRIPE_API_KEY"):
                stripe = services.enter_context(
                    _local_stripe(root / "stripe", f"http://{base}:{port}", previous.get("stripe"))
                )
                export(**stripe)
                console.print(
                    f"started local Stripe (localstripe behind the stand-in): {stripe['STRIPE_API_BASE']}"
                )
            if not (os.environ.get("S3_ENDPOINT_URL") or os.environ.get("S3_BUCKET")):
                s3 = services.enter_context(
                    _local_s3(root / "s3", previous.get("s3"), [f"http://*.{base}:{port}"])
                )
                export(**s3.environ())
                console.print(f"started local S3 (moto, in memory): {s3.endpoint_url}, bucket {s3.bucket}")
            written = dev_env.write(root, exported)
            console.print(f"service URLs written to {written}: other platformctl commands read it")
            _prepare(os.environ["DATABASE_URL"])
            services.callback(_stop_children, children)
            children.append(_spawn("serve", "--port", str(port), "--reload"))
            children.append(_spawn("worker", "--concurrency", "2"))
            children.append(_spawn("relay"))
            children.append(_spawn("beat", "--schedule-file", str(root / "dev" / "celerybeat-schedule")))
            _wait_for_api(port, children)
            operator_host = get_settings().operator_host
            console.print(
                f"\n[bold green]ready[/bold green]  console: http://{DEMO_SLUG}.{base}:{port}/   "
                f"API: http://{DEMO_SLUG}.{base}:{port}/docs   (health: http://{base}:{port}/readyz)\n"
                "API, worker, relay and beat running; Ctrl-C stops everything\n"
                f"sign in to demo as {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD} "
                "(the console's sign-in page; or Authorize in /docs)\n"
                f"operator console: http://{operator_host}.{base}:{port}/ as "
                f"{DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}",
                soft_wrap=True,  # URLs stay whole, whatever the terminal's width
            )
            if "MAIL_VIEWER_URL" in exported:
                console.print(f"mail sent by the platform: {exported['MAIL_VIEWER_URL']}/")
            if "STRIPE_API_BASE" in exported:
                console.print(
                    f"billing: http://{DEMO_SLUG}.{base}:{port}/settings/billing leads to the Stripe "
                    "stand-in's checkout and portal pages (pay, change the plan, cancel)"
                )
            console.print("")
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
def _local_stripe(directory: Path, platform_url: str, preferred_port: int | None) -> Iterator[dict[str, str]]:
    """localstripe and the stand-in, with the platform's webhook registered; yield their settings."""
    from platform_core.devstack import stripe_servers

    with stripe_servers.local_stripe(
        directory,
        preferred_port=stripe_servers.DEFAULT_DEV_PORT,
        preferred_standin_port=preferred_port or stripe_servers.DEFAULT_DEV_STANDIN_PORT,
    ) as api_base:
        secret = f"whsec_dev_{secrets.token_hex(16)}"
        stripe_servers.register_webhook(api_base, f"{platform_url}/webhooks/stripe", secret)
        yield {"STRIPE_API_KEY": "sk_test_dev", "STRIPE_API_BASE": api_base, "STRIPE_WEBHOOK_SECRET": secret}


def _local_s3(directory: Path, preferred_port: int | None, browser_origins: list[str]) -> Any:
    from platform_core.devstack import s3  # moto is a development dependency

    return s3.local_s3(
        directory, preferred_port=preferred_port or s3.DEFAULT_DEV_PORT, browser_origins=browser_origins
    )


def _mail_sink(directory: Path, preferred_port: int | None) -> Any:
    from platform_core.devstack._common import pick_port
    from workers.email.sink import DEFAULT_DEV_PORT, MailSink  # aiosmtpd is a development dependency

    return MailSink(directory, port=pick_port(None, preferred_port or DEFAULT_DEV_PORT))


def _mail_viewer(root: Path, preferred_port: int | None) -> Any:
    from platform_core.devstack import mail_viewer  # development only: never imported by the API

    return mail_viewer.running(
        root / "mail",
        log_path=root / "mail-viewer.log",
        preferred_port=preferred_port or mail_viewer.DEFAULT_DEV_PORT,
    )


def _previous_ports(previous: dict[str, str]) -> dict[str, int]:
    """The ports of the previous run's services (from its .dev/env), to be reused when free."""
    urls = {
        "postgres": previous.get("DATABASE_URL"),
        "redis": previous.get("REDIS_URL"),
        "stripe": previous.get("STRIPE_API_BASE"),
        "s3": previous.get("S3_ENDPOINT_URL"),
        "mail_viewer": previous.get("MAIL_VIEWER_URL"),
    }
    ports = {name: urlsplit(url).port for name, url in urls.items() if url}
    if previous.get("SMTP_PORT", "").isdigit():
        ports["smtp"] = int(previous["SMTP_PORT"])
    return {name: port for name, port in ports.items() if port}


def _wait_for_api(port: int, children: list[subprocess.Popen[bytes]], timeout: float = 180.0) -> None:
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
