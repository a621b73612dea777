"""Start a PgBouncer in transaction mode in front of a PostgreSQL server, for binding tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


def find_pgbouncer() -> str | None:
    """The pgbouncer binary (Debian's package installs it in /usr/sbin), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pgbouncer(database_url: str, *, server_pool_size: int = 1) -> Iterator[str]:
    """Run PgBouncer (transaction pooling, `server_pool_size` server connections); yield its URL."""
    binary = find_pgbouncer()
    assert binary, "pgbouncer is not installed"
    url = make_url(database_url)
    port = _free_port()
    # Its own temp dir: as root, pgbouncer runs as `postgres`, which cannot enter pytest's 0700 tmp dirs.
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    workdir.chmod(0o755)
    (workdir / "users.txt").write_text(f'"{url.username}" ""\n')
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={url.host or '127.0.0.1'} port={url.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {server_pool_size}\nmax_client_conn = 200\n"
        f"logfile = {workdir / 'pgbouncer.log'}\npidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    args = [binary, str(ini)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(workdir, user="postgres")
        for path in workdir.iterdir():
            shutil.chown(path, user="postgres")
        args = [binary, "-u", "postgres", str(ini)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer_url = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    try:
        _wait_until_up(bouncer_url, process, workdir)
        yield bouncer_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], workdir: Path) -> None:
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            log = (workdir / "pgbouncer.log").read_text() if (workdir / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer exited: {process.stderr.read() if process.stderr else ''} {log}")
        try:
            with psycopg.connect(libpq, connect_timeout=1, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
