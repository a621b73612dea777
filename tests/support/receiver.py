"""A webhook receiver for tests: a real HTTP server on loopback that records what it gets and answers
as each path is scripted to (a list of statuses, optional delays and headers)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Answer:
    """How to answer one request: status, seconds to wait first, extra headers."""

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'


class Receiver:
    """What the server got, and the scripts of its paths (the last answer of a script repeats)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.port = 0

    def url(self, path: str) -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        """Answer the requests to `path` with these, in turn."""
        with self.lock:
            self.scripts[path] = list(answers)

    def got(self, path: str) -> list[Received]:
        """The requests to `path` so far."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def _next(self, path: str) -> Answer:
        with self.lock:
            script = self.scripts.get(path) or [Answer()]
            return script.pop(0) if len(script) > 1 else script[0]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (a free port) until the block ends."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(
                    Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                    )
                )
            answer = state._next(self.path)
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            reply = answer.body
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the sender gave up waiting
                self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
