"""`.dev/env`: `platformctl` commands reach the `make dev` services without exporting anything."""

from __future__ import annotations

import json
import uuid

from platform_core.cli import dev_env
from platform_core.devstack._common import free_port
from tests.platform_core.cli.test_output import platformctl


def test_commands_read_dev_env_for_the_variables_that_are_not_set(settings, tmp_path):
    root = tmp_path / "devroot"
    dev_env.write(root, {"DATABASE_URL": settings.database_url, "BASE_DOMAIN": "dev.example.com"})
    slug = f"devenv-{uuid.uuid4().hex[:8]}"

    created = platformctl("tenants", "create", slug, "--json", cwd=tmp_path, DEV_ROOT=str(root))
    listed = platformctl("tenants", "list", "--json", cwd=tmp_path, DEV_ROOT=str(root))

    assert created.returncode == 0, created.stderr
    assert slug in {tenant["slug"] for tenant in json.loads(listed.stdout)}
    # A variable set in the environment wins over the file (BASE_DOMAIN is set by platformctl()).
    assert json.loads(created.stdout)["url"] == f"https://{slug}.example.com"
    assert (root / "env").stat().st_mode & 0o077 == 0  # it holds the local webhook secret


def test_the_file_is_ignored_outside_development(settings, tmp_path):
    root = tmp_path / "devroot"
    dev_env.write(root, {"TENANT_URL_TEMPLATE": "http://{slug}.from-the-file.test"})
    env = {"DEV_ROOT": str(root), "DATABASE_URL": settings.database_url}
    slugs = [f"devenv-{uuid.uuid4().hex[:8]}" for _ in range(2)]

    development = platformctl("tenants", "create", slugs[0], "--json", cwd=tmp_path, **env)
    test = platformctl("tenants", "create", slugs[1], "--json", cwd=tmp_path, ENV="test", **env)

    assert json.loads(development.stdout)["url"] == f"http://{slugs[0]}.from-the-file.test"
    assert json.loads(test.stdout)["url"] == f"https://{slugs[1]}.example.com"


def test_a_stale_file_is_named_in_the_error(tmp_path):
    root = tmp_path / "devroot"
    dev_env.write(root, {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/platform"})

    result = platformctl("tenants", "list", cwd=tmp_path, DEV_ROOT=str(root))

    assert result.returncode == 1
    assert "from .dev/env: is `make dev` running?" in result.stderr
