"""`platformctl`: the operator's command line."""

from __future__ import annotations

from typing import Annotated

import typer

from platform_core.cli import billing as billing_commands
from platform_core.cli import db as db_commands
from platform_core.cli import dev as dev_commands
from platform_core.cli import dev_env
from platform_core.cli import operators as operator_commands
from platform_core.cli import tenants as tenant_commands
from platform_core.cli import workers as worker_commands
from platform_core.cli.errors import OneLineErrors
from platform_core.log import configure_logging
from platform_core.settings import get_settings

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
    """Serve the API with uvicorn."""
    import uvicorn

    uvicorn.run(
        "platform_core.asgi:app",
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        reload_dirs=["platform_core", "tenants", "billing", "workers"] if reload else None,
        proxy_headers=True,
        forwarded_allow_ips=get_settings().forwarded_allow_ips,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    app()
