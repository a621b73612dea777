"""A TCP proxy in front of PostgreSQL that counts the protocol messages its clients send.

Servers under test connect to the proxy instead of PostgreSQL; the proxy forwards bytes both ways
unchanged and parses the client side of the stream (a startup packet, then messages of one type byte
and an int32 length). Between `start_counting()` and `stop_counting()` it counts each message by type:
a simple-protocol Query ('Q') and an extended-protocol Sync ('S') each end one round trip (the client
then waits for ReadyForQuery); a Query or an Execute ('E') runs one statement (a Query may carry
several, which none of the systems measured sends). An SSLRequest or GSSENCRequest is answered 'N'
by the proxy itself, so a client that prefers TLS continues in plain text, which the proxy can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections import Counter
from collections.abc import Iterator

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class WireCounter:
    """The proxy: `port` to connect to; counts of client message types while counting is on."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = 0
        self.counts: Counter[str] = Counter()
        self.connections = 0  # client connections accepted while counting
        self._counting = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-wire-counter", daemon=True)
        self._server: asyncio.Server | None = None

    # --- control, from the benchmark's thread ------------------------------------------------------
    def start(self) -> None:
        """Listen on a free loopback port (self.port) in a thread of its own."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the PostgreSQL wire counter did not start")

    def stop(self) -> None:
        """Close the listener and every proxied connection, and end the thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def start_counting(self) -> None:
        """Reset the counts and count from now on."""
        with self._lock:
            self.counts.clear()
            self.connections = 0
            self._counting = True

    def stop_counting(self) -> Counter[str]:
        """Stop counting; the counts since start_counting()."""
        with self._lock:
            self._counting = False
            return Counter(self.counts)

    # --- the proxy, in its thread ----------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_host.startswith("/"):  # a socket directory, as libpq names it
            path = f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}"
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        with self._lock:
            if self._counting:
                self.connections += 1
        try:
            startup = await self._startup(client_r, client_w)
            if startup is None:
                return
            server_r, server_w = await self._open_upstream()
        except (OSError, asyncio.IncompleteReadError):
            client_w.close()
            return
        server_w.write(startup)
        down = asyncio.ensure_future(self._pipe(server_r, client_w))
        try:
            await self._client_messages(client_r, server_w)
        finally:
            down.cancel()
            for writer in (client_w, server_w):
                writer.close()

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """The client's startup packet, after answering 'N' to any SSL or GSS encryption request."""
        while True:
            header = await reader.readexactly(8)
            length, code = struct.unpack("!ii", header)
            body = await reader.readexactly(length - 8)
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            return header + body

    async def _client_messages(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(5)
                (length,) = struct.unpack("!i", header[1:])
                body = await reader.readexactly(length - 4)
                if self._counting:
                    with self._lock:
                        self.counts[chr(header[0])] += 1
                writer.write(header + body)
                await writer.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


def round_trips(counts: Counter[str]) -> int:
    """Client waits for the server: one per Query and one per Sync."""
    return counts["Q"] + counts["S"]


def statements(counts: Counter[str]) -> int:
    """Statements run: one per Query, one per Execute."""
    return counts["Q"] + counts["E"]


@contextlib.contextmanager
def wire_counter(upstream_host: str, upstream_port: int) -> Iterator[WireCounter]:
    """A running WireCounter for the block."""
    counter = WireCounter(upstream_host, upstream_port)
    counter.start()
    try:
        yield counter
    finally:
        counter.stop()
