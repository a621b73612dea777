"""The installed package: the wheel the Docker image installs migrates a database and serves the API.

The project is built into a wheel the way docker/Dockerfile does it (`pip wheel .` on the build context
that .dockerignore leaves), installed into a fresh virtual environment, and run from there as real
processes (`platformctl db upgrade`, `tenants create`, `serve`) against the test PostgreSQL, Redis and S3,
from an empty working directory as in the image. So a file the code reads but the wheel leaves out
(plan catalogue, migrations, email templates) fails here as it would in production.

What differs from the image, to keep this test at seconds rather than minutes: the project's wheel is
installed with `--no-deps`, and its dependencies are made importable by a `.pth` line naming this test
environment's site-packages: the same versions pip resolved for the project, but not reinstalled. That
line adds the directory only (the `.pth` files in it, among them the editable install of the checkout,
are not run), and the test checks that every platform package is imported from the fresh environment.
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from platform_core.devstack._common import free_port, stop_child
from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT
from tests.conftest import make_settings, subscribed
from tests.support.processes import wait_until
from tests.support.tenants import TenantOps

PACKAGES = ("platform_core", "tenants", "billing", "workers")
HOST = "acme.example.com"
OWNER = ("owner@acme.example.com", "correct-horse-battery-staple")


def _build_context(destination: Path) -> Path:
    """Copy the checkout as `docker build` sees it: without what .dockerignore names."""
    patterns = [
        line.strip().removeprefix("**/")
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if any(fnmatch.fnmatch(name, p) for p in patterns)}

    shutil.copytree(PROJECT_ROOT, destination, ignore=ignored)
    return destination


def _run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the project's wheel installed (see the module docstring)."""
    work = tmp_path_factory.mktemp("packaging")
    context = _build_context(work / "context")
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", work / "wheels", context
    )
    (wheel,) = (work / "wheels").glob("saas_platform-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        wheel,
    )
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _environment(venv: Path, **settings: str) -> dict[str, str]:
    """A clean environment, as a container gets: only these settings."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, "PATH": f"{venv / 'bin'}:{keep.get('PATH', '')}", **settings}


@pytest.fixture(scope="module")
def settings_env(settings, s3_server, venv) -> Iterator[dict[str, str]]:
    """Production settings on a database of its own."""
    url = settings.database_url + "_wheel"
    drop_database(url)
    ensure_database(url)
    yield _environment(
        venv,
        ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=url,
        REDIS_URL=settings.redis_url,
        BASE_DOMAIN="example.com",
        LOG_LEVEL="WARNING",
        **{"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local-secret", **s3_server},
    )
    drop_database(url)


def _subscribe_to_pro(env: dict[str, str], slug: str) -> None:
    database = Database(make_settings(env["DATABASE_URL"], env["REDIS_URL"]), pool_size=1)
    try:
        subscribed(database, TenantOps(database, database.settings).get(slug), plan="pro")
    finally:
        database.dispose_sync()


def test_every_package_comes_from_the_fresh_environment(venv, tmp_path):
    python = venv / "bin" / "python"
    code = f"import importlib; print(*(importlib.import_module(p).__file__ for p in {PACKAGES!r}))"

    files = _run(python, "-c", code, env=_environment(venv), cwd=tmp_path).split()

    assert all(Path(f).is_relative_to(venv) for f in files), files


def test_the_installed_wheel_migrates_and_serves_every_route_group(venv, settings_env, tmp_path):
    platformctl = venv / "bin" / "platformctl"
    _run(platformctl, "db", "upgrade", env=settings_env, cwd=tmp_path)
    created = _run(
        platformctl, "tenants", "create", "acme", "--owner-email", OWNER[0], "--json",
        env={**settings_env, "OWNER_PASSWORD": OWNER[1]}, cwd=tmp_path,
    )  # fmt: skip
    _subscribe_to_pro(settings_env, json.loads(created)["slug"])  # reports are a feature of Pro
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [platformctl, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=settings_env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, timeout=60, interval=0.2)
        with httpx.Client(base_url=base, headers={"host": HOST}, timeout=30) as client:
            token = client.post("/api/v1/auth/token", data={"username": OWNER[0], "password": OWNER[1]})
            assert token.status_code == 200, token.text
            client.headers["authorization"] = f"Bearer {token.json()['access_token']}"
            answers = {
                "readyz": client.get("/readyz"),
                "items": client.post("/api/v1/items", json={"title": "from the wheel"}),
                "items list": client.get("/api/v1/items"),
                "billing": client.get("/api/v1/billing"),
                "uploads": client.post(
                    "/api/v1/uploads",
                    json={"filename": "a.txt", "content_type": "text/plain", "size_bytes": 5},
                ),
                "reports": client.post("/api/v1/reports", json={"kind": "items_csv"}),
                "auth": client.get("/api/v1/users/me"),
            }
    finally:
        stop_child(server)
        log.close()
    failed = {name: (r.status_code, r.text[:300]) for name, r in answers.items() if r.status_code >= 400}
    assert not failed, f"{failed}\n{(tmp_path / 'serve.log').read_text()[-3000:]}"
    assert answers["billing"].json()["plan"]["key"]  # read from the installed plans.toml
    assert uuid.UUID(answers["reports"].json()["id"])
