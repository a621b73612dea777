"""What `platformctl` prints, run as a real process: results on stdout, logs on stderr, one line per error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from platform_core.devstack._common import free_port
from platform_core.kernel.db.bootstrap import drop_database, ensure_database

# Variables of the test process that must not leak into the commands run here.
_CLEARED = ("DATABASE_URL", "REDIS_URL", "ENV", "LOG_LEVEL", "LOG_FORMAT", "DEV_ROOT", "PYTHONPATH")


def platformctl(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `platformctl ARGS` in a fresh process with exactly these settings."""
    base = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith(("S3_", "SMTP_"))}
    return subprocess.run(
        [sys.executable, "-m", "platform_core.cli.main", *args],
        cwd=cwd,
        env={**base, "BASE_DOMAIN": "example.com", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def database_url(settings):
    """A database of this module's own, migrated by the commands under test."""
    url = settings.database_url + "_output"
    drop_database(url)
    ensure_database(url)
    yield url
    drop_database(url)


def test_json_reports_are_pure_json_with_logs_on_stderr(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "ENV": "test", "LOG_LEVEL": "INFO", "LOG_FORMAT": "console"}

    upgraded = platformctl("db", "upgrade", "--json", cwd=tmp_path, **env)
    slug = f"out-{uuid.uuid4().hex[:8]}"
    created = platformctl("tenants", "create", slug, "--json", cwd=tmp_path, **env)

    assert upgraded.returncode == 0, upgraded.stderr
    assert json.loads(upgraded.stdout)["head"]
    assert "alembic" in upgraded.stderr  # Alembic's log lines are still there, on stderr
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["slug"] == slug


def test_db_upgrade_of_an_unknown_tenant_fails_like_tenants_migrate(database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "ENV": "test", "LOG_LEVEL": "WARNING"}

    upgrade = platformctl("db", "upgrade", "--tenant", "nosuch", cwd=tmp_path, **env)
    migrate = platformctl("tenants", "migrate", "nosuch", cwd=tmp_path, **env)

    for result in (upgrade, migrate):
        assert result.returncode == 1
        assert result.stderr.splitlines() == ["error (tenant_not_found): No tenant with slug 'nosuch'."]
        assert "0 tenants" not in result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error")
    return lines[0]


def test_an_unreachable_database_is_one_line_naming_the_url_without_its_password(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql://operator:hunter2secret@127.0.0.1:{port}/platform"

    line = _one_line_error(platformctl("tenants", "list", cwd=tmp_path, DATABASE_URL=url, ENV="test"))

    assert f"postgresql://operator:***@127.0.0.1:{port}/platform" in line
    assert "hunter2secret" not in line
    assert "refused" in line


def test_a_file_that_cannot_be_written_is_one_line(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "x.tar.gz"

    line = _one_line_error(
        platformctl("tenants", "export", "acme", "--output", str(missing), cwd=tmp_path, ENV="test")
    )

    assert "No such file or directory" in line
    assert str(missing.parent) in line


def test_invalid_settings_are_one_line_naming_the_variable(tmp_path):
    line = _one_line_error(platformctl("tenants", "list", cwd=tmp_path, ENV="production", SECRET_KEY="short"))
    assert "SECRET_KEY must be set" in line

    line = _one_line_error(platformctl("tenants", "list", cwd=tmp_path, ENV="test", DB_POOL_SIZE="many"))
    assert "DB_POOL_SIZE" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "shwo", "acme"], "No such command 'shwo'. Did you mean 'show'?"),
        (["tenant", "list"], "No such command 'tenant'"),
        (["tenants", "list", "--jsn"], "No such option: --jsn"),
    ],
)
def test_a_typo_is_one_line_pointing_at_help(args, message, tmp_path):
    line = _one_line_error(platformctl(*args, cwd=tmp_path, ENV="test"), code=2)

    assert message in line
    assert "--help" in line
