"""Alembic environment for one tenant schema, chosen with `-x schema=t_<id>`.

`platformctl db upgrade` does not run this file: it drives the same history for every tenant from
tenants.fleet. This file serves `alembic -c alembic.ini -n tenant ...` when authoring a migration.
Tenant migrations are written without a schema; the connection is bound to the tenant's schema as the
fleet binds it (platform_core/kernel/db/binding.py: `bind_migration`).
"""

from __future__ import annotations

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import create_engine, pool

import platform_core.app.models  # noqa: F401 - the model registry: the metadata migrations compare against
from platform_core.kernel.settings import get_settings, to_sqlalchemy_url
from tenants.fleet import configure_tenant_context

config = context.config


def _autogenerating() -> bool:
    return bool(getattr(config.cmd_opts, "autogenerate", False))


def run() -> None:
    """Run tenant migrations against the schema named by -x schema=..."""
    schema = context.get_x_argument(as_dictionary=True).get("schema")
    if not schema:
        raise SystemExit("pass the tenant schema: alembic -n tenant -x schema=t_<id> ...")
    url = to_sqlalchemy_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn, conn.begin():  # one transaction, committed here
        # `alembic.context` is the module that proxies the running EnvironmentContext's methods.
        configure_tenant_context(cast(EnvironmentContext, context), conn, schema, reflect=_autogenerating())
        context.run_migrations()


run()
