"""Start, use, stop and restart the local PostgreSQL and Redis stand-ins (no machine services used)."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from platform_core.devstack import LocalServiceError, LocalStack, start_redis, stop_postgres, stop_redis

IS_ROOT = os.geteuid() == 0

# A second process using the same root/tag: prints its URLs, then holds the stack until stdin closes.
HOLDER = """
import sys
from pathlib import Path
from platform_core.devstack import LocalStack
with LocalStack(Path(sys.argv[1]), database_url=None, redis_url=None, tag="test") as stack:
    print(stack.database_url, stack.redis_url, flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def root(tmp_path: Path):
    """Return a stack root under tmp_path, traversable by the servers' account when we are root.

    pytest makes its temp dirs 0700; as root the servers run as an unprivileged user, which must
    traverse them. LocalStack never changes anything above its root, so the test does it: o+x
    (search, not list) on pytest's own temp dirs up to pytest-of-<user>. Only tmp_path gets its
    mode back: the shared ones may be in use by another xdist worker.
    """
    top = next((p for p in tmp_path.parents if p.name.startswith("pytest-of-")), None)
    chain = [tmp_path] + [p for p in tmp_path.parents if top is not None and (p == top or top in p.parents)]
    mode = stat.S_IMODE(tmp_path.stat().st_mode)
    if IS_ROOT:
        for directory in chain:
            directory.chmod(stat.S_IMODE(directory.stat().st_mode) | stat.S_IXOTH)
    yield tmp_path / "stack"
    for service, stop in (("postgres", stop_postgres), ("redis", stop_redis)):
        stop(tmp_path / "stack" / "test" / service)  # safety net: a failed test must not leak servers
    tmp_path.chmod(mode)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited; its parent reaps it
    except psutil.NoSuchProcess:
        return True


def _holder(root: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", HOLDER, str(root)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _postmaster_pid(root: Path) -> int:
    return int((root / "test" / "postgres" / "data" / "postmaster.pid").read_text().split()[0])


def test_start_use_stop_and_restart_on_same_data(root: Path):
    t0 = time.monotonic()
    with LocalStack(root, database_url=None, redis_url=None, tag="test") as stack:
        started = time.monotonic() - t0
        assert [s.name for s in stack.started] == ["postgres", "redis"]
        assert stack.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert stack.redis_url.startswith("redis://127.0.0.1:")
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("show max_connections").fetchone() == ("200",)
            assert conn.execute("show fsync").fetchone() == ("off",)
            assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
            conn.execute("create table devstack_probe (id int primary key, note text)")
            conn.execute("insert into devstack_probe values (1, 'first run')")
        client = redis.Redis.from_url(stack.redis_url)
        assert client.ping()
        client.close()
        pids = [s.pid for s in stack.started if s.pid is not None]
        pids += [c.pid for c in psutil.Process(stack.started[0].pid).children(recursive=True)]
        # what the check below must no longer find (a short-lived backend may have exited meanwhile)
        assert all(_ours(pid, root) or _gone(pid) for pid in pids)
        if IS_ROOT:  # never as root, nor in root's group
            for service in stack.started:
                proc = psutil.Process(service.pid)
                assert 0 not in (*proc.uids(), *proc.gids())
    assert stack.database_url == ""
    assert not any(_ours(pid, root) for pid in pids), "servers left running after __exit__"

    t0 = time.monotonic()
    with LocalStack(root, database_url=None, redis_url=None, tag="test") as again:
        restarted = time.monotonic() - t0
        with psycopg.connect(again.database_url) as conn:
            assert conn.execute("select note from devstack_probe").fetchall() == [("first run",)]
        pids = [s.pid for s in again.started]
    assert not any(_ours(pid, root) for pid in pids if pid)
    print(f"first start (initdb) {started:.2f}s, restart {restarted:.2f}s")


def test_configured_urls_start_nothing(root: Path):
    with LocalStack(root, database_url="postgresql://db/x", redis_url="redis://r/0", tag="test") as stack:
        assert stack.started == []
        assert (stack.database_url, stack.redis_url) == ("postgresql://db/x", "redis://r/0")
    assert not root.exists()


def _ours(pid: int, root: Path) -> bool:
    """Whether `pid` is still a server of ours (working under root), not a process that reused the pid."""
    try:
        process = psutil.Process(pid)
        where = str(root.resolve())
        return process.cwd().startswith(where) or where in " ".join(process.cmdline())
    except psutil.Error:  # gone (or a zombie being reaped)
        return False


def test_failed_second_service_stops_the_first(root: Path, monkeypatch: pytest.MonkeyPatch):
    def broken_redis(*args: object, **kwargs: object) -> None:
        raise LocalServiceError("redis broke")

    monkeypatch.setattr("platform_core.devstack.stack.start_redis", broken_redis)
    stack = LocalStack(root, database_url=None, redis_url=None, tag="test")
    with pytest.raises(LocalServiceError, match="redis broke"), stack:
        pytest.fail("__enter__ should have raised")
    assert [s.name for s in stack.started] == ["postgres"]
    assert not _ours(stack.started[0].pid, root)


def test_redis_start_failure_reports_log_tail(root: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalServiceError, match="Address already in use"):
            start_redis(root / "redis", port=port)
    assert not list((root / "redis").glob("server.json"))


def test_two_processes_share_and_last_one_stops(root: Path):
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        urls = [h.stdout.readline().split() for h in holders]
        assert len(urls[0]) == 2
        assert urls[0] == urls[1]  # the second process reused the servers of the first
        postmaster = _postmaster_pid(root)
        redis_pid = json.loads((root / "test" / "redis" / "server.json").read_text())["pid"]
        holders[0].communicate("\n", timeout=20)
        assert not _gone(postmaster)  # still used by the other process
        assert not _gone(redis_pid)
        with psycopg.connect(urls[0][0]) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        holders[1].communicate("\n", timeout=20)
        assert _gone(postmaster)
        assert _gone(redis_pid)
    finally:
        for h in holders:
            h.kill()
            h.wait()


def test_reuses_servers_left_by_a_crashed_run(root: Path):
    crashed = _holder(root)
    urls = crashed.stdout.readline().split()
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    postmaster = _postmaster_pid(root)
    with LocalStack(root, database_url=None, redis_url=None, tag="test") as stack:
        assert [stack.database_url, stack.redis_url] == urls  # healthy and ours: reused
        assert stack.started[0].pid == postmaster
    assert _gone(postmaster)
    # A stale postmaster.pid naming an unrelated live process must not block the next start.
    pidfile = root / "test" / "postgres" / "data" / "postmaster.pid"
    pidfile.write_text(f"{os.getppid()}\n{pidfile.parent}\n0\n5432\n\n127.0.0.1\n0 0\nready\n")
    with (
        LocalStack(root, database_url=None, redis_url=None, tag="test") as stack,
        psycopg.connect(stack.database_url) as conn,
    ):
        assert conn.execute("select 1").fetchone() == (1,)


def test_a_lock_file_left_by_a_standalone_backend_is_stale(root: Path):
    with LocalStack(root, database_url=None, redis_url=None, tag="test"):
        pass
    # A standalone backend (initdb's bootstrap, `postgres --single`) writes its pid negated.
    pidfile = root / "test" / "postgres" / "data" / "postmaster.pid"
    pidfile.write_text(f"-{os.getpid()}\n{pidfile.parent}\n0\n5432\n\n127.0.0.1\n0 0\nready\n")
    stop_postgres(root / "test" / "postgres")
    with (
        LocalStack(root, database_url=None, redis_url=None, tag="test") as stack,
        psycopg.connect(stack.database_url) as conn,
    ):
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.skipif(not IS_ROOT, reason="only root runs the servers as another user")
def test_root_opens_blocking_parents_for_search_only(root: Path):
    private = root.parent / "private"
    private.mkdir(mode=0o700)
    with (
        LocalStack(private / "stack", database_url=None, redis_url=None, tag="test") as stack,
        psycopg.connect(stack.database_url) as conn,
    ):
        assert conn.execute("select 1").fetchone() == (1,)
    assert stat.S_IMODE(private.stat().st_mode) == 0o701  # o+x added; never read or write
