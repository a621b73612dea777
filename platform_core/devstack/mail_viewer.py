"""A mail viewer for development: the messages the SMTP sink stored, newest first, each with its links.

It reads the sink's directory (`NAME.eml` files, workers/email/sink.py) on every request, so it needs
no state of its own. A message's page shows its headers, its HTML part in a sandboxed frame (no
script, no same-origin access; links open in the whole window), its text part with every link made
clickable, and the list of its links. `platformctl dev` runs it beside the sink on 127.0.0.1; the API
never imports it.

    python -m platform_core.devstack.mail_viewer --directory .dev/mail --port 18025
"""

from __future__ import annotations

import argparse
import contextlib
import html
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import httpx
import uvicorn
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from platform_core.devstack._common import LOCALHOST, LocalServiceError, log_tail, pick_port, stop_child
from platform_core.devstack._html import HEADERS, page

DEFAULT_DEV_PORT = 18025  # `make dev`: the usual mail viewers' 8025 behind a 1, like the Stripe stand-in
START_TIMEOUT = 20.0
BANNER = "Mail caught by the development SMTP sink: nothing here was delivered."
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")  # what the sink names files (eml_name), without .eml
_LINK = re.compile(r"""https?://[^\s"'<>]+""")
_TRAILING = ".,;:!?)]}'\""  # punctuation after a link in running text is not part of it
# The HTML part runs without scripts, plugins, forms or same-origin access; a click on a link may
# navigate the whole window (its <base target="_top">) or open a new one.
SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"

LIST = """{% extends "layout.html" %}{% block body %}
<div class="card">
  <h1>Mail ({{ messages|length }})</h1>
  {% if messages %}
  <table>
    <thead><tr><th>Date</th><th>From</th><th>To</th><th>Subject</th></tr></thead>
    <tbody>
    {% for m in messages %}
      <tr>
        <td class="muted">{{ m.date }}</td><td>{{ m.sender }}</td><td>{{ m.to }}</td>
        <td><a href="/messages/{{ m.name }}">{{ m.subject or "(no subject)" }}</a></td>
      </tr>
    {% endfor %}
    </tbody>
  </table>
  {% else %}
  <p>No mail yet. Every message the platform sends in development lands here.</p>
  {% endif %}
  <p class="muted">Stored in {{ directory }}. <a href="/">Refresh</a></p>
</div>
{% endblock %}"""

MESSAGE = """{% extends "layout.html" %}{% block body %}
<p><a href="/">← All mail</a></p>
<div class="card">
  <h1>{{ subject or "(no subject)" }}</h1>
  <table>
    {% for name, value in headers %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}
  </table>
  <p class="muted"><a href="/messages/{{ name }}/raw">Raw message</a></p>
</div>
{% if srcdoc %}
<div class="card">
  <h2>HTML</h2>
  <iframe title="The message's HTML part" sandbox="{{ sandbox }}" referrerpolicy="no-referrer"
          srcdoc="{{ srcdoc }}"></iframe>
</div>
{% endif %}
{% if text %}
<div class="card"><h2>Text</h2><pre>{{ text }}</pre></div>
{% endif %}
{% if links %}
<div class="card">
  <h2>Links</h2>
  <ul>{% for link in links %}<li><a href="{{ link }}">{{ link }}</a></li>{% endfor %}</ul>
</div>
{% endif %}
{% if attachments %}
<div class="card"><h2>Attachments</h2><ul>{% for a in attachments %}<li>{{ a }}</li>{% endfor %}</ul></div>
{% endif %}
{% endblock %}"""

MISSING = """{% extends "layout.html" %}{% block body %}
<div class="card"><h1>No such message</h1><p><a href="/">All mail</a></p></div>
{% endblock %}"""


@dataclass(frozen=True)
class Summary:
    """One stored message as the list shows it."""

    name: str
    date: str
    sender: str
    to: str
    subject: str


def _parse(path: Path, *, headers_only: bool = False) -> EmailMessage:
    with path.open("rb") as stream:
        message = BytesParser(policy=default_policy).parse(stream, headersonly=headers_only)
    assert isinstance(message, EmailMessage)  # what the default policy builds
    return message


def _date(message: EmailMessage) -> str:
    header = message["Date"]
    when = getattr(header, "datetime", None)
    return when.strftime("%Y-%m-%d %H:%M:%S %z") if when is not None else str(header or "")


def summaries(directory: Path) -> list[Summary]:
    """The stored messages, newest first (the sink's file names start with a UTC timestamp)."""
    found = []
    for path in sorted(directory.glob("*.eml"), key=lambda p: p.name, reverse=True):
        if path.stat().st_size == 0:  # a name the sink reserved and is still writing
            continue
        message = _parse(path, headers_only=True)
        found.append(
            Summary(
                name=path.name.removesuffix(".eml"),
                date=_date(message),
                sender=str(message["From"] or ""),
                to=str(message["To"] or message["X-Original-To"] or ""),
                subject=str(message["Subject"] or ""),
            )
        )
    return found


def links_in(text: str) -> list[str]:
    """The http(s) links of a text, in order, once each."""
    return list(dict.fromkeys(match.rstrip(_TRAILING) for match in _LINK.findall(text)))


def linkified(text: str) -> Markup:
    """The text escaped, with each http(s) link made an anchor."""
    out, last = [], 0
    for match in _LINK.finditer(text):
        link = match.group().rstrip(_TRAILING)
        out += [escape(text[last : match.start()]), Markup('<a href="{0}">{0}</a>').format(link)]
        last = match.start() + len(link)
    out.append(escape(text[last:]))
    return Markup("").join(out)


class MailViewer:
    """The viewer's routes over one directory of `.eml` files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path | None:
        path = self.directory / f"{name}.eml"
        if not _NAME.fullmatch(name) or not path.is_file() or path.stat().st_size == 0:
            return None
        return path

    async def index(self, request: Request) -> Response:
        """GET /: every stored message, newest first."""
        messages = summaries(self.directory) if self.directory.is_dir() else []
        return page(
            LIST, title="Mail", banner=BANNER, width="64rem", messages=messages, directory=str(self.directory)
        )

    async def message(self, request: Request) -> Response:
        """GET /messages/{name}: one message, its HTML part sandboxed, its links clickable."""
        name = request.path_params["name"]
        path = self._path(name)
        if path is None:
            return page(MISSING, title="No such message", banner=BANNER, status=404)
        message = _parse(path)
        plain = message.get_body(preferencelist=("plain",))
        rich = message.get_body(preferencelist=("html",))
        text = plain.get_content() if plain is not None else ""
        markup = rich.get_content() if rich is not None else ""
        names = ("From", "To", "Cc", "X-Original-To", "Reply-To", "Date", "Message-ID")
        headers = [(n, str(message[n])) for n in names if message[n]]
        return page(
            MESSAGE,
            title=str(message["Subject"] or "(no subject)"),
            banner=BANNER,
            width="56rem",
            name=name,
            subject=str(message["Subject"] or ""),
            headers=headers,
            text=linkified(text),
            srcdoc=f'<base target="_top">{markup}' if markup else "",
            sandbox=SANDBOX,
            links=links_in(f"{text}\n{html.unescape(markup)}"),
            attachments=[part.get_filename() or "(unnamed)" for part in message.iter_attachments()],
        )

    async def raw(self, request: Request) -> Response:
        """GET /messages/{name}/raw: the message as the sink stored it."""
        path = self._path(request.path_params["name"])
        if path is None:
            return PlainTextResponse("No such message.", status_code=404)
        text = path.read_bytes().decode("utf-8", errors="replace")
        return PlainTextResponse(text, headers=HEADERS)


def create_app(directory: Path) -> Starlette:
    """The viewer as an ASGI app over `directory`."""
    viewer = MailViewer(directory)
    return Starlette(
        routes=[
            Route("/", viewer.index, methods=["GET"]),
            Route("/messages/{name}", viewer.message, methods=["GET"]),
            Route("/messages/{name}/raw", viewer.raw, methods=["GET"]),
        ]
    )


@contextlib.contextmanager
def running(directory: Path, *, log_path: Path, preferred_port: int | None = None) -> Iterator[str]:
    """Run the viewer over `directory` on 127.0.0.1 (preferred_port if free, else a free port) until
    the block ends; yield its URL."""
    port = pick_port(None, preferred_port)
    url = f"http://{LOCALHOST}:{port}"
    command = [sys.executable, "-m", __name__, "--directory", str(directory), "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, log_path)
            yield url
        finally:
            stop_child(process)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise LocalServiceError(
                f"the mail viewer exited with {process.returncode}:\n{log_tail(log_path)}"
            )
        try:
            httpx.get(f"{url}/", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise LocalServiceError(
                    f"the mail viewer did not answer within {START_TIMEOUT:.0f}s"
                ) from None
            time.sleep(0.1)


def main() -> None:
    """Serve the viewer on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--port", type=int, default=DEFAULT_DEV_PORT)
    args = parser.parse_args()
    uvicorn.run(create_app(args.directory), host=LOCALHOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
