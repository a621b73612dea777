"""The small HTML pages of the development tools (the Stripe stand-in's pages, the mail viewer).

Templates are Jinja2 strings with autoescaping, on one layout with a little CSS in a <style> element
and no script or external asset. Each tool serves them on its own loopback origin, in development only.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; color: #1a1f36; background: #f6f8fa; margin: 0; }
  main { max-width: {{ width }}; margin: 2rem auto; padding: 0 1rem; }
  .banner { background: #fff4d6; color: #6b4e00; padding: .4rem 1rem; font-size: 13px; text-align: center; }
  .card { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 1.25rem 1.5rem;
          margin-bottom: 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .75rem; }
  h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
  .amount { font-size: 1.6rem; font-weight: 600; }
  .muted { color: #57606a; font-size: 13px; }
  .error { background: #ffebe9; color: #82071e; border-radius: 6px; padding: .5rem .75rem; }
  form { display: inline; margin: 0; }
  .actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: 1rem; }
  button { font: inherit; padding: .45rem 1rem; border-radius: 6px; border: 1px solid #d0d7de;
           background: #f6f8fa; cursor: pointer; }
  button.primary { background: #635bff; border-color: #635bff; color: #fff; }
  button.danger { color: #cf222e; }
  label { display: block; margin-top: .75rem; font-size: 13px; }
  input { font: inherit; width: 100%; box-sizing: border-box; padding: .4rem .5rem; border: 1px solid #d0d7de;
          border-radius: 6px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  th { font-weight: 600; white-space: nowrap; }
  pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
  iframe { width: 100%; height: 60vh; border: 1px solid #d8dee4; border-radius: 6px; background: #fff;
           resize: vertical; }
  a { color: #0969da; }
</style>
</head>
<body>
<div class="banner">{{ banner }}</div>
<main>
{% block body %}{% endblock %}
</main>
</body>
</html>
"""

# The pages answer only with themselves: styles from the <style> element and the message frame's own
# markup, images only inline, no script anywhere, and no framing by another origin.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_env = jinja2.Environment(
    loader=jinja2.DictLoader({"layout.html": LAYOUT}),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@functools.cache
def _template(source: str) -> jinja2.Template:
    return _env.from_string(source)


def page(
    source: str, *, title: str, banner: str, status: int = 200, width: str = "34rem", **context: Any
) -> HTMLResponse:
    """Render `source` (a template extending "layout.html") as a response with the pages' headers."""
    body = _template(source).render(title=title, banner=banner, width=width, **context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def money(amount: int | None, currency: str | None) -> str:
    """An amount in the smallest currency unit as a person reads it ($29.00, 15.00 CHF)."""
    symbols = {"usd": "$", "eur": "€", "gbp": "£"}
    code = (currency or "usd").lower()
    value = f"{(amount or 0) / 100:,.2f}"
    return f"{symbols[code]}{value}" if code in symbols else f"{value} {code.upper()}"


def day(epoch: int | None) -> str:
    """A Unix time as a UTC date (`12 March 2026`), or an empty string."""
    if not epoch:
        return ""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%-d %B %Y")
