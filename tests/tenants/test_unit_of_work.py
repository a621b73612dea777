"""The tenants functions never commit: the caller's transaction decides, and the host-cache notification
leaves with its commit only. Provisioning refuses an incomplete tenant metadata."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest

from platform_core.kernel.settings import PROJECT_ROOT, to_libpq_url
from tenants import domains, lifecycle
from tenants.exceptions import TenantNotFound
from tenants.resolution import NOTIFY_CHANNEL


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_rolled_back_change_is_not_made_and_not_announced(settings, sync_db, tenant_service):
    tenant = tenant_service.create(slug=_slug("uow"), name="Unit of work")
    with psycopg.connect(to_libpq_url(settings.database_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with sync_db.sync_session() as session:
            lifecycle.suspend(session, slug=tenant.slug, reason="never")
            lifecycle.rename(session, settings=settings, slug=tenant.slug, new_slug=_slug("never"))
            session.rollback()
        with sync_db.sync_session() as session:
            assert lifecycle.get_tenant(session, slug=tenant.slug).status == "active"
            lifecycle.suspend(session, slug=tenant.slug, reason="now")
            session.commit()
        # Notifications arrive in commit order: the first one is the committed suspension's.
        [first] = list(listener.notifies(timeout=10, stop_after=1))
        assert first.payload == str(tenant.id)
        assert list(listener.notifies(timeout=0)) == []  # the rolled-back change sent nothing
    assert tenant_service.get(tenant.slug).status == "suspended"


def test_domain_changes_are_the_callers_to_commit(settings, sync_db, tenant_service):
    tenant = tenant_service.create(slug=_slug("dom"), name="Domains")
    name = f"{uuid.uuid4().hex[:8]}.customer.test"
    with sync_db.sync_session() as session:
        domains.add_domain(session, settings=settings, slug=tenant.slug, domain=name)
        session.rollback()
    assert tenant_service.list_domains(tenant.slug) == []
    with sync_db.sync_session() as session, session.begin():
        domains.add_domain(session, settings=settings, slug=tenant.slug, domain=name)
    assert [d.domain for d in tenant_service.list_domains(tenant.slug)] == [name]
    with pytest.raises(TenantNotFound), sync_db.sync_session() as session:
        domains.add_domain(session, settings=settings, slug=_slug("nobody"), domain=f"x.{name}")


def test_provisioning_refuses_until_the_model_registry_is_loaded():
    # A fresh interpreter that has imported only tenants: its metadata lacks most tenant tables.
    script = (
        "from platform_core.kernel.db.base import tenant_metadata\n"
        "import tenants.provisioning\n"
        "try:\n"
        "    tenant_metadata()\n"
        "except RuntimeError as exc:\n"
        "    print('refused:', exc)\n"
        "import platform_core.app.models\n"
        "print('tables:', len(tenant_metadata().tables))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    refused, tables = done.stdout.splitlines()
    assert refused.startswith("refused: the tenant metadata is incomplete: import platform_core.app.models")
    assert int(tables.removeprefix("tables: ")) >= 10
