"""Rendering console pages: the Jinja2 environment, the console's own assets, and its response headers."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.routing import Mount

ASSETS_PATH = "/assets"
_STATIC = files("platform_core.console") / "static"

assets = Mount(
    ASSETS_PATH, StaticFiles(packages=[("platform_core.console", "static")]), name="console-assets"
)


@cache
def asset_url(name: str) -> str:
    """The URL of a console asset, with its content's hash so a new release is never served stale."""
    digest = hashlib.sha256((_STATIC / name).read_bytes()).hexdigest()[:12]
    return f"{ASSETS_PATH}/{name}?v={digest}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("platform_core.console", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset_url"] = asset_url
    return env


TEMPLATES = _environment()


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a template with the request's page context (set by the page's dependency) and `context`."""
    base: dict[str, Any] = {
        "tenant": None,
        "principal": None,
        "csrf_token": "",
        "nav": [],
        "nav_current": None,
        "notice": None,
        "path": request.url.path,
    }
    page_context = getattr(request.state, "page_context", None) or {}
    html = TEMPLATES.get_template(template).render({**base, **page_context, **context, "request": request})
    return HTMLResponse(html, status_code=status_code)


def content_security_policy(extra_connect: str = "", extra_form_action: str = "") -> str:
    """The console's policy: every asset from the platform itself, no inline script, no framing."""
    connect = " ".join(filter(None, ["'self'", extra_connect]))
    form_action = " ".join(filter(None, ["'self'", extra_form_action]))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src {connect}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )


def origin_of(url: str) -> str:
    """The origin (`scheme://host[:port]`) of a URL, or '' for none."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def add_page_headers(response: Response, policy: str) -> None:
    """The headers of every console page: its policy, no sniffing, no framing, no caching of data."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
