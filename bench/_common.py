"""Shared benchmark plumbing: services, a database per benchmark, settings, statistics, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.settings import PROJECT_ROOT, Environment, Settings, to_libpq_url, to_sqlalchemy_url

BASE_DOMAIN = "example.com"
BENCH_DIR = Path(__file__).resolve().parent


@contextlib.contextmanager
def services() -> Iterator[tuple[str, str]]:
    """PostgreSQL and Redis URLs: DATABASE_URL/REDIS_URL when set, else local ones under .dev/bench.

    Started services are exported through the environment, so nested calls (run_all, then each
    benchmark) and child processes reuse them; they are stopped when the outermost call returns.
    """
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    try:
        from platform_core.devstack.stack import LocalStack
    except ImportError as exc:  # the launcher is still being written
        raise SystemExit(
            f"set DATABASE_URL and REDIS_URL (the local service launcher is not importable: {exc})"
        ) from exc
    stack = LocalStack(PROJECT_ROOT / ".dev", database_url=database_url, redis_url=redis_url, tag="bench")
    with stack:
        saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL")}
        os.environ["DATABASE_URL"] = stack.database_url
        os.environ["REDIS_URL"] = stack.redis_url
        try:
            yield stack.database_url, stack.redis_url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def bench_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh database `platform_bench_<name>_<random>` on the server of `server_url`; dropped after."""
    db_name = f"platform_bench_{name}_{uuid.uuid4().hex[:8]}"
    url = make_url(to_sqlalchemy_url(server_url)).set(database=db_name).render_as_string(hide_password=False)
    ensure_database(url)
    try:
        yield url
    finally:
        drop_database(url)


def vacuum_catalogs(database_url: str) -> float:
    """VACUUM (ANALYZE) every system catalog table, as autovacuum would some time after a bulk creation
    of schemas (whose pass over gigabytes of new catalog rows would otherwise run inside measured
    rounds); the seconds it took."""
    with Timer() as timer, psycopg.connect(to_libpq_url(database_url), autocommit=True) as conn:
        names = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'pg_catalog'::regnamespace"
        ).fetchall()
        for (name,) in names:
            conn.execute(f'VACUUM (ANALYZE) pg_catalog."{name}"')
    return timer.elapsed


def bench_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings for a benchmark: test environment, quiet logs, a fixed base domain."""
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "redis_url": redis_url,
        "base_domain": BASE_DOMAIN,
        "log_level": "WARNING",
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(**values)


def bearer_headers(settings: Settings, tenant_id: Any, user_id: Any) -> dict[str, str]:
    """An Authorization header with an hour-long access token of this user of this tenant."""
    from platform_core.kernel.security.tokens import SigningKeys, issue_access_token, tenant_audience

    token = issue_access_token(
        SigningKeys.parse(settings.signing_keys_spec),
        subject=str(user_id),
        audience=tenant_audience(tenant_id),
        ttl_seconds=3600,
        tid=str(tenant_id),
        sid=str(uuid.uuid4()),
    )
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q < 1) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def machine_facts(database_url: str) -> dict[str, str]:
    """Cores, CPU model, Python, PostgreSQL version: what a reader needs to compare runs."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(to_libpq_url(database_url)) as conn:
        pg_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        autovacuum = str(conn.execute("SHOW autovacuum").fetchone()[0])  # type: ignore[index]
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql": pg_version,
        "autovacuum": autovacuum,
        "os": f"{platform.system()} {platform.release()}",
    }


def code_version() -> str:
    """The commit the benchmarked code is at, and whether the work tree has changes on top of it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return f"{sha} (with uncommitted changes)" if dirty else sha


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command that reproduces a run, as a reader would type it from the project root."""
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in argv)])


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Goal:
    """A target the benchmark checks."""

    name: str
    target: str
    measured: str
    met: bool


@dataclass
class Report:
    """One benchmark's results, rendered as a markdown section of RESULTS.md."""

    title: str
    command: str
    summary: str
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    date: str = field(default_factory=now_iso)
    elapsed_s: float = 0.0
    commit: str = field(default_factory=lambda: code_version())

    def markdown(self) -> str:
        """The section as markdown."""
        lines = [f"## {self.title}", "", f"- command: `{self.command}`", f"- date: {self.date}"]
        lines += [f"- code: commit {self.commit}"]
        lines += [f"- run time: {self.elapsed_s:.0f} s", "", self.summary, ""]
        for header, rows in self.tables:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join(" --- " for _ in header) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        if self.goals:
            lines += ["| goal | target | measured | met |", "| --- | --- | --- | --- |"]
            for goal in self.goals:
                lines.append(
                    f"| {goal.name} | {goal.target} | {goal.measured} | {'yes' if goal.met else 'NO'} |"
                )
            lines.append("")
        lines += [f"- {note}" for note in self.notes]
        if self.notes:
            lines.append("")
        return "\n".join(lines)


class Timer:
    """Wall-clock seconds of a block: `with Timer() as t: ...; t.elapsed`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


def log(message: str) -> None:
    """Progress on stderr (stdout carries the results)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def platform_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `platformctl serve` under benchmark: this process's, the test environment,
    the benchmark's services, quiet logs, no metrics port (several workers), plus `extra`."""
    env = dict(os.environ)
    env.update(
        ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BASE_DOMAIN=BASE_DOMAIN,
        LOG_LEVEL="WARNING",
        LOG_FORMAT="console",
        METRICS_PORT="0",
        **extra,
    )
    return env


def spawn_platformctl(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """Start `platformctl <args>` in its own process group, its output discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", "platform_core.cli.main", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process group started by spawn_platformctl: SIGTERM, then SIGKILL after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
