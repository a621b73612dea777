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


def chain_signal_handlers(hub: Hub) -> Callable[[], None]:
    """Close the hub's connections before the server's own handler runs; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(sig: int, frame: FrameType | None) -> None:
        hub.refusing = True
        loop.call_soon_threadsafe(hub.close_all)
        before = previous.get(sig)
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:
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
