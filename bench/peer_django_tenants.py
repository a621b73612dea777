"""The platform side by side with django-tenants: the same paged item list on the same PostgreSQL.

django-tenants (pinned below) is installed with Django, psycopg and gunicorn into a virtual
environment of its own under .dev/peer-venv (git-ignored; none of it is a dependency of the project),
and a minimal Django project is written at run time into .dev/peer-django from the strings in this
file: a tenant and a domain model (TenantMixin/DomainMixin), an item model with the platform's columns,
check constraint and indexes, and `GET /api/v1/items?page_size=20` answering the platform's JSON shape
(items, total, page, page_size). Each system gets a database of its own on the same server, two
tenants (acme, globex) and the same ITEMS items per tenant.

The platform runs under `platformctl serve --workers 2` and authenticates every request (a bearer
access token per tenant); django-tenants runs under gunicorn with 2 sync workers and persistent
connections (CONN_MAX_AGE=None), without authentication. Rounds alternate between the two servers;
within a round, requests alternate between the two tenant hosts. Load: `wrk -t2 -c64` with a Lua
script when wrk is installed, else an httpx loop with 64 connections. Server CPU per request is the
user+system time of each server's process tree over the round, divided by the requests served;
PostgreSQL CPU per request that of the whole PostgreSQL server (only one system is loaded at a time);
transactions and connections opened per round from pg_stat_database. Provisioning: tenants created
one after another in each system, timed, with the tables each has. Fleet migrations, whole command:
a no-op one, then an integer column with an index added to `item` in every tenant schema (checked).

    python -m bench.peer_django_tenants [--rounds 6] [--seconds 15] [--provision 20]   (make bench-peer)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg
from sqlalchemy.engine import make_url

from bench._common import (
    BASE_DOMAIN,
    Goal,
    Report,
    Timer,
    bearer_headers,
    bench_database,
    bench_settings,
    command_line,
    free_port,
    log,
    median,
    percentile,
    platform_env,
    services,
    spawn_platformctl,
    stop_process,
)
from bench._wire import WireCounter, round_trips, statements, wire_counter
from bench.auth_overhead import add_owner
from bench.fleet_migration import add_revision, run_cli
from bench.provisioning import count_tables, create_tenant
from platform_core.items.models import Item
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, Settings, to_libpq_url, to_sqlalchemy_url
from tenants.fleet import upgrade_public

MODULE = "bench.peer_django_tenants"
PINS = ("django-tenants==4.0.1", "Django>=5.2,<5.3", "psycopg[binary]>=3.2,<4", "gunicorn>=23,<24")
VENV = PROJECT_ROOT / ".dev" / "peer-venv"
PROJECT_DIR = PROJECT_ROOT / ".dev" / "peer-django"
SLUGS = ("acme", "globex")
HOSTS = tuple(f"{slug}.{BASE_DOMAIN}" for slug in SLUGS)
PATH = "/api/v1/items?page_size=20"
ITEMS = 50
CONNECTIONS = 64
WIRE_WARMUP = 40  # sequential requests before counting protocol messages
WIRE_REQUESTS = 200  # sequential requests counted
STATS_DELAY_S = 1.2

# ---------------------------------------------------------------------------------------------------
# The Django project, written at run time.
# ---------------------------------------------------------------------------------------------------

DJANGO_FILES: dict[str, str] = {
    "manage.py": """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
""",
    "peer/__init__.py": "",
    "peer/settings.py": """\
import os

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SHARED_APPS = ["django_tenants", "customers", "django.contrib.contenttypes", "django.contrib.postgres"]
TENANT_APPS = ["items"]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]
TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
MIDDLEWARE = ["django_tenants.middleware.main.TenantMainMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": os.environ["PEER_DB_NAME"],
        "USER": os.environ.get("PEER_DB_USER", ""),
        "PASSWORD": os.environ.get("PEER_DB_PASSWORD", ""),
        "HOST": os.environ.get("PEER_DB_HOST", ""),
        "PORT": os.environ.get("PEER_DB_PORT", ""),
        # Persistent connections: one per worker process, kept for the process's life.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
    }
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
""",
    "peer/urls.py": """\
from django.urls import path

from items.views import item_list

urlpatterns = [path("api/v1/items", item_list)]
""",
    "peer/wsgi.py": """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
application = get_wsgi_application()
""",
    "customers/__init__.py": "",
    "customers/models.py": """\
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    name = models.CharField(max_length=100)
    created_on = models.DateField(auto_now_add=True)
    auto_create_schema = True


class Domain(DomainMixin):
    pass
""",
    "items/__init__.py": "",
    "items/models.py": '''\
import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now


class Item(models.Model):
    """The platform's item table: same columns, check constraint and indexes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=200)
    description = models.TextField(null=True)
    status = models.CharField(max_length=20, default="open")
    tags = ArrayField(models.CharField(max_length=50), default=list)
    deleted_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "item"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "in_progress", "done"]), name="item_status"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="ix_item_live_created",
                condition=models.Q(deleted_at__isnull=True),
            ),
            GinIndex(fields=["tags"], name="ix_item_tags"),
        ]
''',
    "items/views.py": '''\
from django.http import HttpResponseBadRequest, JsonResponse

from items.models import Item


def item_list(request):
    """One page of live items, newest first, with the total: the platform's JSON shape."""
    try:
        page = int(request.GET.get("page", 1))
        page_size = int(request.GET.get("page_size", 20))
    except ValueError:
        return HttpResponseBadRequest()
    if page < 1 or not 1 <= page_size <= 100:
        return HttpResponseBadRequest()
    live = Item.objects.filter(deleted_at__isnull=True)
    total = live.count()
    start = (page - 1) * page_size
    rows = live.order_by("-created_at", "-id")[start : start + page_size]
    items = [
        {
            "id": str(item.id),
            "title": item.title,
            "description": item.description,
            "status": item.status,
            "tags": item.tags,
            "created_at": item.created_at.isoformat(),
            "updated_at": item.updated_at.isoformat(),
        }
        for item in rows
    ]
    return JsonResponse({"items": items, "total": total, "page": page, "page_size": page_size})
''',
    # Run in the peer venv: `manage.py migrate_schemas` timing each schema between django-tenants'
    # own signals (before set_schema, after the commit); prints one JSON line with the seconds.
    "migrate_timed.py": """\
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django_tenants.signals import schema_migrated, schema_pre_migration  # noqa: E402

started = {}
seconds = {}


def before(sender, schema_name, **kwargs):
    started[schema_name] = time.perf_counter()


def after(sender, schema_name, **kwargs):
    seconds[schema_name] = time.perf_counter() - started.pop(schema_name)


schema_pre_migration.connect(before)
schema_migrated.connect(after)
call_command("migrate_schemas", verbosity=0)
sys.stdout.write("\\n" + json.dumps({"seconds": seconds}) + "\\n")
""",
    # Run in the peer venv: public tenant, the benchmark tenants with their items, then timed
    # provisioning; prints one JSON line with the timings.
    "setup_peer.py": """\
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
django.setup()

from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from customers.models import Client, Domain  # noqa: E402
from items.models import Item  # noqa: E402

slugs, items, provision, base = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
public = Client(schema_name="public", name="public")
public.save()
Domain(domain=base, tenant=public, is_primary=True).save()
for slug in slugs:
    tenant = Client(schema_name=slug, name=slug.title())
    tenant.save()
    Domain(domain=f"{slug}.{base}", tenant=tenant, is_primary=True).save()
    with schema_context(slug):
        Item.objects.bulk_create(
            Item(
                title=f"Item {n}",
                description=f"Description of item {n}, long enough to look like real text.",
                status="open",
                tags=["bench", f"group-{n % 5}"],
            )
            for n in range(items)
        )
timings = []
for n in range(provision):
    start = time.perf_counter()
    tenant = Client(schema_name=f"prov_{n}", name=f"Prov {n}")
    tenant.save()
    Domain(domain=f"prov-{n}.{base}", tenant=tenant, is_primary=True).save()
    timings.append(time.perf_counter() - start)
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", [slugs[0]])
    tables = cursor.fetchone()[0]
print(json.dumps({"provision_s": timings, "tables": tables}))
""",
}


def ensure_venv() -> Path:
    """The peer virtual environment's python, created and filled with the pinned packages if needed."""
    python = VENV / "bin" / "python"
    marker = VENV / "pins.txt"
    wanted = "\n".join(PINS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    log(f"peer: installing {', '.join(PINS)} into {VENV.relative_to(PROJECT_ROOT)}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS], check=True
    )
    marker.write_text(wanted)
    return python


def write_project(directory: Path) -> None:
    """Write the Django project (fresh every run) into `directory`."""
    shutil.rmtree(directory, ignore_errors=True)
    for name, content in DJANGO_FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for app in ("customers", "items"):
        (directory / app / "migrations").mkdir()
        (directory / app / "migrations" / "__init__.py").write_text("")


def peer_env(database_url: str) -> dict[str, str]:
    """Environment of the Django processes: the database's parts as PEER_DB_*."""
    url = make_url(to_sqlalchemy_url(database_url))
    host = url.host or str(url.query.get("host", ""))
    return {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "peer.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PEER_DB_NAME": str(url.database),
        "PEER_DB_USER": url.username or "",
        "PEER_DB_PASSWORD": url.password or "",
        "PEER_DB_HOST": host,
        "PEER_DB_PORT": str(url.port or ""),
    }


def setup_django(python: Path, env: dict[str, str], provision: int) -> tuple[list[float], int]:
    """Migrations made and applied, tenants created and seeded, provisioning timed (in the peer venv)."""

    def manage(*args: str) -> str:
        return subprocess.run(
            [str(python), *args], cwd=PROJECT_DIR, env=env, check=True, capture_output=True, text=True
        ).stdout

    manage("manage.py", "makemigrations", "customers", "items")
    manage("manage.py", "migrate_schemas", "--shared")
    out = manage("setup_peer.py", ",".join(SLUGS), str(ITEMS), str(provision), BASE_DOMAIN)
    result = json.loads(out.strip().splitlines()[-1])
    return [float(t) for t in result["provision_s"]], int(result["tables"])


@dataclass(frozen=True)
class FleetRun:
    """A fleet migration as a whole command: wall seconds, and per-tenant milliseconds (p50, p99) of
    the tenant schemas it migrated (None when it migrated none)."""

    seconds: float
    p50_ms: float | None
    p99_ms: float | None

    def per_tenant(self) -> str:
        """`p50 / p99 ms` for a table cell."""
        if self.p50_ms is None or self.p99_ms is None:
            return "-"
        return f"{self.p50_ms:.0f} / {self.p99_ms:.0f} ms"


def django_noop_migration(python: Path, env: dict[str, str]) -> FleetRun:
    """`manage.py migrate_schemas` (through migrate_timed.py) with every schema at its latest
    migration: wall seconds, and per tenant schema (public left out) as django-tenants' signals time it."""
    start = time.perf_counter()
    out = subprocess.run(
        [str(python), "migrate_timed.py"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    elapsed = time.perf_counter() - start
    seconds = json.loads(out.strip().splitlines()[-1])["seconds"]
    tenants = [float(v) * 1000 for k, v in seconds.items() if k != "public"]
    if not tenants:
        return FleetRun(elapsed, None, None)
    return FleetRun(elapsed, percentile(tenants, 0.5), percentile(tenants, 0.99))


def django_real_migration(python: Path, env: dict[str, str]) -> FleetRun:
    """Add an integer column with a default and an index on it to the item model, make its migration,
    and run `manage.py migrate_schemas` applying it to every schema (see django_noop_migration)."""
    models = PROJECT_DIR / "items" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    deleted_at = ",
            "    priority = models.IntegerField(default=0, db_default=0, db_index=True)\n    deleted_at = ",
        )
    )
    subprocess.run(
        [str(python), "manage.py", "makemigrations", "items"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    return django_noop_migration(python, env)


def item_tables_with(database_url: str, column: str) -> int:
    """How many `item` tables of the database have `column` (one per migrated tenant schema)."""
    with psycopg.connect(to_libpq_url(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'item' AND column_name = %s",
            (column,),
        ).fetchone()
    return int(row[0]) if row else 0


def platform_migration(settings: Settings) -> FleetRun:
    """`platformctl db upgrade --jobs 1`: wall seconds, and per tenant the milliseconds each tenant's
    transaction took (lock to commit), as the command reports them."""
    elapsed, summary = run_cli(settings, jobs=1)
    p50, p99 = summary.get("p50_ms"), summary.get("p99_ms")
    return FleetRun(
        elapsed,
        None if p50 is None else float(str(p50)),
        None if p99 is None else float(str(p99)),
    )


def platform_real_migration(url: str, redis_url: str) -> FleetRun:
    """The same change as a tenant revision on a copy of the platform's migrations, applied by
    `platformctl db upgrade --jobs 1` (see platform_migration)."""
    with tempfile.TemporaryDirectory(prefix="bench-migrations-") as tmp:
        migrations = Path(tmp) / "alembic"
        shutil.copytree(
            PROJECT_ROOT / "platform_core" / "migrations",
            migrations,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        add_revision(migrations, "bbee00c0ff01", "priority")
        return platform_migration(bench_settings(url, redis_url, migrations_dir=migrations))


@dataclass
class PlatformSetup:
    """The platform's benchmark tenants: per-host bearer headers, provisioning timings."""

    headers: dict[str, dict[str, str]]
    provision_s: list[float]
    tables: int


def setup_platform(url: str, redis_url: str, provision: int) -> PlatformSetup:
    """Migrate public, create the tenants with an owner and ITEMS items, time `provision` more."""
    settings = bench_settings(url, redis_url)
    upgrade_public(settings)
    db = Database(settings, pool_size=1)
    headers: dict[str, dict[str, str]] = {}
    timings: list[float] = []
    try:
        schemas = []
        for slug, host in zip(SLUGS, HOSTS, strict=True):
            tenant = create_tenant(db, settings, slug=slug, name=slug.title())
            schemas.append(tenant.schema_name)
            with db.sync_session(tenant.schema_name) as session, session.begin():
                session.add_all(
                    Item(
                        title=f"Item {n}",
                        description=f"Description of item {n}, long enough to look like real text.",
                        status="open",
                        tags=["bench", f"group-{n % 5}"],
                    )
                    for n in range(ITEMS)
                )
            tenant_id, user_id = add_owner(url, redis_url, tenant.schema_name)
            headers[host] = bearer_headers(settings, tenant_id, user_id)
        for n in range(provision):
            start = time.perf_counter()
            create_tenant(db, settings, slug=f"prov-{n}", name=f"Prov {n}")
            timings.append(time.perf_counter() - start)
        tables = count_tables(db, schemas[0])
    finally:
        db.dispose_sync()
    return PlatformSetup(headers, timings, tables)


# ---------------------------------------------------------------------------------------------------
# Servers and load.
# ---------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process group on a loopback port, with the headers each tenant host needs."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    headers: dict[str, dict[str, str]]
    database_url: str

    @property
    def url(self) -> str:
        """The benchmarked URL."""
        return f"http://127.0.0.1:{self.port}{PATH}"


def wait_ready(server: Server) -> None:
    """Wait until the server answers 200 on both tenant hosts; raise if it exits or fails."""
    deadline = time.monotonic() + 60
    for host in HOSTS:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
            try:
                response = httpx.get(server.url, headers={"Host": host, **server.headers[host]}, timeout=5)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name} did not start") from None
                time.sleep(0.3)
                continue
            if response.status_code != 200:
                raise RuntimeError(f"{server.name} answered {response.status_code}: {response.text[:300]}")
            break


@contextlib.contextmanager
def serve_platform(url: str, redis_url: str, headers: dict[str, dict[str, str]]) -> Iterator[Server]:
    """`platformctl serve --workers 2` on a free port until the block ends."""
    port = free_port()
    env = platform_env(url, redis_url)
    process = spawn_platformctl(env, "serve", "--workers", "2", "--port", str(port))
    server = Server("platform", port, process, headers, url)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_process(process)


@contextlib.contextmanager
def serve_django(python: Path, env: dict[str, str], url: str) -> Iterator[Server]:
    """gunicorn with 2 sync workers serving the Django project until the block ends."""
    port = free_port()
    gunicorn = [str(python), "-m", "gunicorn", "peer.wsgi:application"]
    process = subprocess.Popen(
        [*gunicorn, "--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}"],
        cwd=PROJECT_DIR,
        env={**env, "PYTHONPATH": str(PROJECT_DIR)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server("django-tenants", port, process, {host: {} for host in HOSTS}, url)
    try:
        wait_ready(server)
        yield server
    finally:
        stop_process(process)


@dataclass(frozen=True)
class Load:
    """One load run: requests per second, requests done, latency percentiles in ms."""

    rps: float
    count: int
    p50_ms: float
    p99_ms: float


_WRK_LUA = """\
local hosts = {hosts}
local n = 0
request = function()
  n = n + 1
  local h = hosts[(n % #hosts) + 1]
  return wrk.format("GET", "{path}", h)
end
"""
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_COUNT = re.compile(r"(\d+) requests in ")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+\d+|Socket errors:.*")
_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _lua_table(headers: dict[str, dict[str, str]]) -> str:
    entries = []
    for host, extra in headers.items():
        fields = ", ".join(f'["{k}"] = "{v}"' for k, v in {"Host": host, **extra}.items())
        entries.append("{" + fields + "}")
    return "{" + ", ".join(entries) + "}"


def load_wrk(server: Server, seconds: float) -> Load:
    """`wrk -t2 -c64 --latency`, requests alternating between the tenant hosts; raise on any error."""
    script = _WRK_LUA.format(hosts=_lua_table(server.headers), path=PATH)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
        out = subprocess.run(
            [*command, "-s", lua.name, server.url], capture_output=True, text=True, check=True
        ).stdout
    if bad := _ERRORS.search(out):
        raise RuntimeError(f"wrk saw errors against {server.name}: {bad.group(0)}\n{out}")
    rps, count = _RPS.search(out), _COUNT.search(out)
    latency = {q: float(v) * _UNIT_MS[unit] for q, v, unit in _LATENCY.findall(out)}
    if not rps or not count or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return Load(float(rps.group(1)), int(count.group(1)), latency["50"], latency["99"])


async def _load_httpx(server: Server, seconds: float) -> Load:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    latencies: list[float] = []
    hosts = [{"Host": host, **extra} for host, extra in server.headers.items()]
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(server.url, headers=hosts[n % len(hosts)])
                if response.status_code != 200:
                    raise RuntimeError(f"{server.name} answered {response.status_code}")
                latencies.append((time.perf_counter() - start) * 1000)
                n += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONNECTIONS)))
        elapsed = time.perf_counter() - start
    return Load(
        len(latencies) / elapsed, len(latencies), percentile(latencies, 0.5), percentile(latencies, 0.99)
    )


def load_httpx(server: Server, seconds: float) -> Load:
    """An in-process httpx loop with 64 connections (when wrk is not installed)."""
    return asyncio.run(_load_httpx(server, seconds))


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (live ones)."""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@dataclass(frozen=True)
class DatabaseCounters:
    """Transactions of one database so far, and CPU seconds the whole PostgreSQL server has used."""

    transactions: int
    sessions: int
    server_cpu: float
    blocks_read: int = 0  # blocks the database's backends read from outside shared buffers


def postgres_cpu_seconds(backend_pid: int) -> float:
    """CPU seconds of the PostgreSQL server a backend belongs to: the postmaster, its live children,
    and the children it has already reaped (so backends that came and went are counted too).

    Needs the server on this machine (local /proc); 0 when it is not readable.
    """
    try:
        postmaster = psutil.Process(psutil.Process(backend_pid).ppid())
        own = postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children():
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        return 0.0
    return total


def database_counters(database_url: str) -> DatabaseCounters:
    """Committed + rolled back transactions of the database, and its server's CPU seconds so far.

    Read over a connection to the server's `postgres` database, so reading counts no transaction here.
    """
    url = make_url(to_sqlalchemy_url(database_url))
    admin = to_libpq_url(url.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(xact_commit + xact_rollback, 0), coalesce(sessions, 0), coalesce(blks_read, 0)"
            " FROM pg_stat_database WHERE datname = %s",
            (url.database,),
        ).fetchone()
        cpu = postgres_cpu_seconds(conn.info.backend_pid)
    if row is None:
        return DatabaseCounters(0, 0, cpu)
    return DatabaseCounters(int(row[0]), int(row[1]), cpu, int(row[2]))


@dataclass(frozen=True)
class Round:
    """One round against one server."""

    load: Load
    cpu_ms_per_request: float
    db_cpu_ms_per_request: float
    transactions_per_request: float
    connections_opened: int


def measure(server: Server, seconds: float, loader: str) -> Round:
    """One load round: server CPU per request from its process tree, PostgreSQL CPU per request
    (the whole PostgreSQL server's, the only load on it in the round being this system's), and
    transactions per request in the system's database."""
    db_before = database_counters(server.database_url)
    before = tree_cpu_seconds(server.process.pid)
    result = load_wrk(server, seconds) if loader == "wrk" else load_httpx(server, seconds)
    cpu = tree_cpu_seconds(server.process.pid) - before
    time.sleep(STATS_DELAY_S)  # backends report their transaction counts within a second
    db_after = database_counters(server.database_url)
    db_cpu = db_after.server_cpu - db_before.server_cpu
    count = max(result.count, 1)
    return Round(
        result,
        cpu * 1000 / count,
        db_cpu * 1000 / count,
        (db_after.transactions - db_before.transactions) / count,
        db_after.sessions - db_before.sessions,
    )


@dataclass(frozen=True)
class Wire:
    """PostgreSQL protocol traffic per request, counted by the proxy over sequential requests."""

    round_trips: float
    statements: float
    connections: int


def upstream(database_url: str) -> tuple[str, int]:
    """Host (or socket directory) and port of the PostgreSQL server of `database_url`."""
    url = make_url(to_sqlalchemy_url(database_url))
    return url.host or str(url.query.get("host", "127.0.0.1")), url.port or 5432


def proxied(database_url: str, port: int) -> str:
    """`database_url` through the counting proxy on `port`."""
    url = make_url(to_sqlalchemy_url(database_url)).difference_update_query(["host"])
    return url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def count_wire(server: Server, wire: WireCounter, requests: int) -> Wire:
    """WIRE_WARMUP requests, then `requests` counted ones, one at a time, alternating the tenant hosts;
    each must answer 200."""
    with httpx.Client(timeout=30) as client:

        def get(n: int) -> None:
            host = HOSTS[n % len(HOSTS)]
            client.get(server.url, headers={"Host": host, **server.headers[host]}).raise_for_status()

        for n in range(WIRE_WARMUP):
            get(n)
        wire.start_counting()
        for n in range(requests):
            get(n)
        counts = wire.stop_counting()
    return Wire(round_trips(counts) / requests, statements(counts) / requests, wire.connections)


def same_shape(platform_body: dict[str, object], django_body: dict[str, object]) -> bool:
    """Both answers have the same keys, total, page length and item keys.

    The rows themselves differ: ids are random and all items share one creation time, so the order
    (newest first, then by id) differs too; timestamps end in `Z` on one side and `+00:00` on the other.
    """
    p_items, d_items = platform_body.get("items"), django_body.get("items")
    return (
        set(platform_body) == set(django_body)
        and platform_body["total"] == django_body["total"] == ITEMS
        and isinstance(p_items, list)
        and isinstance(d_items, list)
        and len(p_items) == len(d_items) == 20
        and set(p_items[0]) == set(d_items[0])
    )


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "" if ours is None or not theirs else f"{ours / theirs:.2f} (p50)"


def _ms(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f} ms"


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per system")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per system")
    parser.add_argument("--provision", type=int, default=20, help="tenants provisioned (timed) per system")
    parser.add_argument("--loader", choices=("auto", "wrk", "httpx"), default="auto")
    args = parser.parse_args(list(argv))
    loader = args.loader if args.loader != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    python = ensure_venv()
    write_project(PROJECT_DIR)
    with (
        Timer() as total,
        services() as (server_url, redis_url),
        bench_database(server_url, "peer_platform") as platform_url,
        bench_database(server_url, "peer_django") as django_url,
    ):
        log("peer: provisioning the platform's tenants")
        platform = setup_platform(platform_url, redis_url, args.provision)
        log("peer: provisioning django-tenants' tenants")
        env = peer_env(django_url)
        django_prov, django_tables = setup_django(python, env, args.provision)
        with (
            serve_platform(platform_url, redis_url, platform.headers) as ours,
            serve_django(python, env, django_url) as theirs,
        ):
            host = HOSTS[0]
            ours_body = httpx.get(ours.url, headers={"Host": host, **ours.headers[host]}).json()
            theirs_body = httpx.get(theirs.url, headers={"Host": host}).json()
            if not same_shape(ours_body, theirs_body):
                raise RuntimeError(f"the two systems answer differently:\n{ours_body}\n{theirs_body}")
            for server in (ours, theirs):
                measure(server, args.warmup, loader)
            rounds: dict[str, list[Round]] = {ours.name: [], theirs.name: []}
            for n in range(args.rounds):
                for server in (theirs, ours) if n % 2 else (ours, theirs):
                    rounds[server.name].append(measure(server, args.seconds, loader))
                log(
                    f"round {n + 1}/{args.rounds}: platform {rounds[ours.name][-1].load.rps:.0f} req/s, "
                    f"django-tenants {rounds[theirs.name][-1].load.rps:.0f} req/s"
                )

        log("peer: PostgreSQL round trips per request, through a counting proxy")
        with wire_counter(*upstream(platform_url)) as wire:
            with serve_platform(proxied(platform_url, wire.port), redis_url, platform.headers) as ours:
                platform_wire = count_wire(ours, wire, WIRE_REQUESTS)
            peer_wire_url = proxied(django_url, wire.port)
            with serve_django(python, peer_env(peer_wire_url), peer_wire_url) as theirs:
                django_wire = count_wire(theirs, wire, WIRE_REQUESTS)

        log("peer: no-op fleet migrations")
        platform_noop = platform_migration(bench_settings(platform_url, redis_url))
        django_noop = django_noop_migration(python, env)
        log("peer: real fleet migrations (a column and an index on item)")
        platform_real = platform_real_migration(platform_url, redis_url)
        django_real = django_real_migration(python, env)
        for name, db_url in (("platform", platform_url), ("django-tenants", django_url)):
            if (migrated := item_tables_with(db_url, "priority")) != len(SLUGS) + args.provision:
                raise RuntimeError(f"{name}: {migrated} item tables have the new column")

    mine, peer = rounds["platform"], rounds["django-tenants"]
    pairs = list(zip(mine, peer, strict=True))
    ratios = [a.load.rps / b.load.rps for a, b in pairs]
    db_ratios = [a.db_cpu_ms_per_request / max(b.db_cpu_ms_per_request, 1e-9) for a, b in pairs]
    report = Report(
        title="The platform and django-tenants side by side: GET /api/v1/items?page_size=20",
        command=command_line(MODULE, argv),
        summary=(
            f"Same PostgreSQL (a database per system), two tenants each with {ITEMS} items, requests "
            f"alternating between the two tenant hosts. Platform: `platformctl serve --workers 2`, "
            f"bearer token on every request. django-tenants {PINS[0].split('==')[1]} (Django 5.2, "
            "gunicorn 2 sync workers, CONN_MAX_AGE=None), no authentication. Load: "
            f"`{loader}` with {CONNECTIONS} connections{' (-t2)' if loader == 'wrk' else ''}, "
            f"{args.seconds:.0f} s per round, {args.rounds} interleaved rounds after a "
            f"{args.warmup:.0f} s warm-up each. Server CPU = user+system time of each server's process "
            "tree / requests served; PostgreSQL CPU = the same for the whole PostgreSQL "
            "server (postmaster, backends, exited backends), whose only load in a round is the system "
            "under test; transactions = pg_stat_database commits + rollbacks / requests. "
            "Both answer the same JSON keys and page (checked)."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            [
                "round",
                "platform req/s",
                "django-tenants req/s",
                "ratio",
                "platform p50 / p99",
                "django-tenants p50 / p99",
                "platform CPU ms/req",
                "django-tenants CPU ms/req",
                "PostgreSQL CPU ms/req platform / django-tenants",
                "transactions/req platform / django-tenants",
                "DB connections opened platform / django-tenants",
            ],
            [
                [
                    str(n + 1),
                    f"{a.load.rps:.0f}",
                    f"{b.load.rps:.0f}",
                    f"{a.load.rps / b.load.rps:.2f}",
                    f"{a.load.p50_ms:.1f} / {a.load.p99_ms:.1f} ms",
                    f"{b.load.p50_ms:.1f} / {b.load.p99_ms:.1f} ms",
                    f"{a.cpu_ms_per_request:.2f}",
                    f"{b.cpu_ms_per_request:.2f}",
                    f"{a.db_cpu_ms_per_request:.2f} / {b.db_cpu_ms_per_request:.2f}",
                    f"{a.transactions_per_request:.2f} / {b.transactions_per_request:.2f}",
                    f"{a.connections_opened} / {b.connections_opened}",
                ]
                for n, (a, b) in enumerate(pairs)
            ],
        )
    )
    report.tables.append(
        (
            ["median", "platform", "django-tenants", "platform/django-tenants"],
            [
                [
                    "req/s",
                    f"{median([r.load.rps for r in mine]):.0f}",
                    f"{median([r.load.rps for r in peer]):.0f}",
                    f"{median(ratios):.2f}",
                ],
                [
                    "p99 ms",
                    f"{median([r.load.p99_ms for r in mine]):.1f}",
                    f"{median([r.load.p99_ms for r in peer]):.1f}",
                    f"{median([a.load.p99_ms / b.load.p99_ms for a, b in pairs]):.2f}",
                ],
                [
                    "server CPU ms/req",
                    f"{median([r.cpu_ms_per_request for r in mine]):.2f}",
                    f"{median([r.cpu_ms_per_request for r in peer]):.2f}",
                    f"{median([a.cpu_ms_per_request / b.cpu_ms_per_request for a, b in pairs]):.2f}",
                ],
                [
                    "PostgreSQL CPU ms/req",
                    f"{median([r.db_cpu_ms_per_request for r in mine]):.2f}",
                    f"{median([r.db_cpu_ms_per_request for r in peer]):.2f}",
                    f"{median(db_ratios):.2f}",
                ],
                [
                    "transactions/req",
                    f"{median([r.transactions_per_request for r in mine]):.2f}",
                    f"{median([r.transactions_per_request for r in peer]):.2f}",
                    "",
                ],
                [
                    f"PostgreSQL round trips/req ({WIRE_REQUESTS} sequential requests)",
                    f"{platform_wire.round_trips:.2f}",
                    f"{django_wire.round_trips:.2f}",
                    f"{platform_wire.round_trips / max(django_wire.round_trips, 1e-9):.2f}",
                ],
                [
                    "statements/req (same requests)",
                    f"{platform_wire.statements:.2f}",
                    f"{django_wire.statements:.2f}",
                    "",
                ],
                [
                    f"provisioning p50 / p99 ({args.provision} tenants)",
                    f"{_ms(platform.provision_s)}, {platform.tables} tables" if platform.provision_s else "-",
                    f"{_ms(django_prov)}, {django_tables} tables" if django_prov else "-",
                    "",
                ],
                [
                    f"no-op fleet migration, {len(SLUGS) + args.provision} tenants (whole command)",
                    f"{platform_noop.seconds:.2f} s",
                    f"{django_noop.seconds:.2f} s",
                    f"{platform_noop.seconds / django_noop.seconds:.2f}",
                ],
                [
                    "no-op fleet migration, per tenant p50 / p99",
                    platform_noop.per_tenant(),
                    django_noop.per_tenant(),
                    "",
                ],
                [
                    f"add a column and an index, {len(SLUGS) + args.provision} tenants (whole command)",
                    f"{platform_real.seconds:.2f} s",
                    f"{django_real.seconds:.2f} s",
                    f"{platform_real.seconds / django_real.seconds:.2f}",
                ],
                [
                    "add a column and an index, per tenant p50 / p99",
                    platform_real.per_tenant(),
                    django_real.per_tenant(),
                    _ratio(platform_real.p50_ms, django_real.p50_ms),
                ],
            ],
        )
    )
    rps_ratio = median(ratios)
    p99_ratio = median([a.load.p99_ms / b.load.p99_ms for a, b in pairs])
    cpu_ratio = median([a.cpu_ms_per_request / b.cpu_ms_per_request for a, b in pairs])
    report.goals += [
        Goal("throughput, platform / django-tenants", ">= 2", f"{rps_ratio:.2f}", rps_ratio >= 2),
        Goal("p99, platform / django-tenants", "<= 1", f"{p99_ratio:.2f}", p99_ratio <= 1),
        Goal(
            "app CPU per request, platform / django-tenants", "<= 0.5", f"{cpu_ratio:.2f}", cpu_ratio <= 0.5
        ),
    ]
    if platform.provision_s and django_prov:
        prov_ratio = percentile(platform.provision_s, 0.5) / percentile(django_prov, 0.5)
        report.goals.append(
            Goal("provisioning p50, platform / django-tenants", "<= 1", f"{prov_ratio:.2f}", prov_ratio <= 1)
        )
    opened = median([float(r.connections_opened) for r in mine])
    if opened:
        pool = bench_settings(platform_url, redis_url)
        report.notes.append(
            f"The platform opened a median {opened:.0f} PostgreSQL connections per round: with "
            f"{CONNECTIONS} connections of load over 2 workers and a pool of {pool.db_pool_size} "
            f"(+{pool.db_max_overflow} overflow) per worker, SQLAlchemy's QueuePool closes an overflow "
            "connection whenever it is returned while the pool is full and opens a new one on the "
            "next burst. Each is a backend start, counted in its PostgreSQL CPU and its tail; "
            "django-tenants keeps one connection per worker (CONN_MAX_AGE=None)."
        )
    report.notes.append(
        "No-op fleet migration: `platformctl db upgrade --jobs 1` against `manage.py migrate_schemas` "
        "(its standard, sequential executor; it also walks the public schema), each a fresh process, "
        "with every schema already at its latest migration. Real migration: the same commands "
        "applying an integer column with a default 0 and an index on it to `item` (an Alembic "
        "revision on a copy of the platform's migrations; a field and makemigrations in Django). "
        "Per tenant: the platform's per-tenant durations as `db upgrade --json` reports them (lock to "
        "commit of the tenant's transaction; a no-op run migrates no tenant: it reads every revision "
        "in a few queries and skips those at head); django-tenants' from its schema_pre_migration "
        "to its schema_migrated signal (migrate_timed.py, the same `migrate_schemas` command: set "
        "the schema, create django_migrations if missing, the migrate command, commit, close the "
        "connection), the public schema left out."
    )
    report.notes.append(
        f"Round trips: after the load rounds each system is started again with its database URL "
        f"pointing at a small TCP proxy in front of PostgreSQL (bench/_wire.py) and answers "
        f"{WIRE_WARMUP} warm-up and then {WIRE_REQUESTS} counted requests, one at a time, alternating "
        "the tenant hosts. The proxy parses the client side of the PostgreSQL protocol and counts a "
        "round trip for every Query message (simple protocol) and every Sync (extended protocol: "
        "Parse/Bind/Execute... then Sync, after which the client waits), a statement for every Query "
        "and every Execute; BEGIN and COMMIT count as statements. Connections opened while counting: "
        f"platform {platform_wire.connections}, django-tenants {django_wire.connections}."
    )
    report.notes.append(
        "Provisioning: the platform's create_tenant (registry row, schema, tables, built-in roles, "
        "stamp, NOTIFY; no owner) against django-tenants' Client.save() with auto_create_schema "
        "(schema and its migrations) plus its Domain row; table counts include each system's "
        "migration bookkeeping table where it has one in the tenant schema."
    )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
