"""`platformctl storage ...`: the uploads bucket's configuration that the platform depends on."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from platform_core.cli.common import console, settings
from platform_core.uploads.settings import get_s3_settings
from platform_core.uploads.storage import browser_upload_origins, browser_upload_rule, make_store

app = typer.Typer(help="Configure the uploads bucket.", no_args_is_help=True)


@app.command("allow-browser-uploads")
def allow_browser_uploads(
    origin: Annotated[
        list[str] | None,
        typer.Option(help="Another origin to allow, such as a tenant's custom domain (repeatable)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the rule, change nothing.")] = False,
) -> None:
    """Set the bucket's CORS rule so the tenant console can upload files to it from the browser: every
    tenant subdomain (TENANT_URL_TEMPLATE with `*` for the slug) and each --origin."""
    current = settings()
    origins = browser_upload_origins(current.tenant_url_template, current.base_domain, ",".join(origin or []))
    if dry_run:
        console.print_json(json.dumps({"CORSRules": [browser_upload_rule(origins)]}))
        return
    store = make_store(get_s3_settings())
    store.allow_browser_uploads(origins)
    console.print(f"bucket {store.bucket}: browser uploads allowed from {', '.join(origins)}", soft_wrap=True)
