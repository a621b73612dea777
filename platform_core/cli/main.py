"""`platformctl`: the operator's command line."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Annotated

import typer

from platform_core.cli import billing as billing_commands
from platform_core.cli import db as db_commands
from platform_core.cli import dev as dev_commands
from platform_core.cli import dev_env
from platform_core.cli import operators as operator_commands
from platform_core.cli import storage as storage_commands
from platform_core.cli import tenants as tenant_commands
from platform_core.cli import workers as worker_commands
from platform_core.cli.errors import OneLineErrors
from platform_core.kernel.log import configure_logging
from platform_core.kernel.settings import get_settings

app = typer.Typer(
    cls=OneLineErrors,  # every error of every command: one line on stderr, non-zero exit
    help="Run and operate the platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(tenant_commands.app, name="tenants")
app.add_typer(operator_commands.app, name="operators")
app.add_typer(billing_commands.app, name="billing")
app.add_typer(storage_commands.app, name="storage")
app.command("dev")(dev_commands.dev)
app.command("worker")(worker_commands.worker)
app.command("beat")(worker_commands.beat)
app.command("relay")(worker_commands.relay)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Run and operate the platform."""
    if ctx.invoked_subcommand != "dev":  # dev starts the services: it writes .dev/env, never reads it
        dev_env.load()
    configure_logging(get_settings().log_level, get_settings().log_format)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Serve the API with uvicorn (metrics on METRICS_PORT, on the same interface unless METRICS_HOST)."""
    import uvicorn

    from platform_core.kernel.metrics_server import MULTIPROCESS_ENV
    from platform_core.realtime.settings import get_realtime_settings

    os.environ.setdefault("METRICS_HOST", host)
    get_settings.cache_clear()
    settings = get_settings()
    realtime = get_realtime_settings()
    with contextlib.ExitStack() as cleanup:
        if workers > 1 and not reload and not os.environ.get(MULTIPROCESS_ENV):
            # Workers share one metrics port and record into one directory (see metrics_server).
            os.environ[MULTIPROCESS_ENV] = cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix="platform-metrics-")
            )
        uvicorn.run(
            "platform_core.app.asgi:app",
            host=host,
            port=port,
            workers=None if reload else workers,
            reload=reload,
            reload_dirs=["platform_core", "tenants", "billing", "workers"] if reload else None,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_config=None,
            access_log=False,
            http="platform_core.kernel.read_timeouts:HeaderDeadlineProtocol",
            timeout_keep_alive=settings.keep_alive_timeout_seconds,
            # Realtime WebSockets: the server pings; a client that does not answer in time is closed.
            ws_ping_interval=realtime.ping_interval_seconds,
            ws_ping_timeout=realtime.ping_timeout_seconds,
            ws_max_size=realtime.max_message_bytes,
            # No per-message compression: its zlib state costs hundreds of KB per connection.
            ws_per_message_deflate=False,
            # A new worker answers the supervisor's health check only after it imported this CLI again
            # (spawn): uvicorn's 5 s kill and restart such workers in a loop on a busy or CPU-limited node.
            timeout_worker_healthcheck=30,
        )


if __name__ == "__main__":
    app()
