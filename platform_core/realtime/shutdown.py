"""Closing realtime connections with 1001 "going away" when the server is asked to stop.

uvicorn, on SIGTERM or SIGINT, stops accepting, then closes every open WebSocket itself (1012) and only
then runs the app's shutdown, too late to say goodbye. The hook below runs first: it chains the
signal handler that uvicorn installed, asks the hub to close every connection with 1001 (so clients
reconnect at once, to another process), and then lets uvicorn's handler go on as before.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from platform_core.realtime.hub import Hub

SIGNALS = (signal.SIGTERM, signal.SIGINT)
CLOSE_WAIT_SECONDS = 2.0  # at most this long between the 1001 closes and the server's own shutdown
_TASKS: set[asyncio.Task[None]] = set()


def _keep(task: asyncio.Task[None]) -> None:
    """Hold a reference to a fire-and-forget task until it is done."""
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def chain_signal_handlers(hub: Hub) -> Callable[[], None]:
    """Close the hub's connections before the server's own handler runs; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    closing: list[bool] = []

    async def close_then(before: Callable[[int, FrameType | None], Any], sig: int, frame: Any) -> None:
        # uvicorn's handler only sets a flag, and its main loop then closes every socket with 1012 at
        # its next tick: let the 1001 closes go out first (a bounded wait), then hand over.
        hub.close_all()
        for _ in range(int(CLOSE_WAIT_SECONDS / 0.02)):  # a bounded poll: the set has no event of its own
            if not hub.connections:
                break
            await asyncio.sleep(0.02)
        before(sig, frame)

    def handler(sig: int, frame: FrameType | None) -> None:
        hub.refusing = True
        before = previous.get(sig)
        if callable(before):
            if closing:  # asked again: stop at once
                before(sig, frame)
                return
            closing.append(True)
            loop.call_soon_threadsafe(lambda: _keep(loop.create_task(close_then(before, sig, frame))))
        else:
            loop.call_soon_threadsafe(hub.close_all)
            if before == signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

    for sig in SIGNALS:
        previous[sig] = signal.getsignal(sig)
        if previous[sig] in (signal.SIG_IGN, None):
            continue
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, before)

    return undo
