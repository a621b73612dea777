"""`platformctl tenants ...` end to end against the worker's database."""

from __future__ import annotations

import json
import uuid

import pytest


@pytest.fixture
def run(run_cli):
    """platformctl, in-process (tests/conftest.py)."""
    return run_cli


def test_create_show_list(run):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    created = run(
        "tenants", "create", slug, "--name", "CLI Co", "--owner-email", "boss@cli-co.example.com", "--json"
    )
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert (data["slug"], data["name"], data["status"]) == (slug, "CLI Co", "active")
    assert data["url"] == f"https://{slug}.example.com"  # TENANT_URL_TEMPLATE's default
    shown = json.loads(run("tenants", "show", slug, "--json").output)
    assert shown["id"] == data["id"]
    listed = json.loads(run("tenants", "list", "--json").output)
    assert slug in {t["slug"] for t in listed}


def test_show_prints_the_url_of_tenant_url_template(run, monkeypatch):
    monkeypatch.setenv("TENANT_URL_TEMPLATE", "http://{slug}.{base_domain}:8000")
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run("tenants", "create", slug).exit_code == 0

    shown = json.loads(run("tenants", "show", slug, "--json").output)

    assert shown["url"] == f"http://{slug}.example.com:8000"
    assert f"http://{slug}.example.com:8000" in run("tenants", "show", slug).output


def test_lifecycle_commands(run):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    new_slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run("tenants", "create", slug).exit_code == 0
    suspended = run("tenants", "suspend", slug, "--reason", "abuse report")
    assert suspended.exit_code == 0
    assert "abuse report" in suspended.output
    assert json.loads(run("tenants", "show", slug, "--json").output)["status"] == "suspended"
    assert run("tenants", "resume", slug).exit_code == 0
    assert run("tenants", "rename", slug, new_slug).exit_code == 0
    assert run("tenants", "show", slug).exit_code == 1
    deleted = run("tenants", "delete", new_slug, "--grace-days", "7")
    assert deleted.exit_code == 0
    assert "marked for deletion" in deleted.output
    early = run("tenants", "delete", new_slug, "--purge")
    assert early.exit_code == 1
    assert "grace period" in early.output
    purged = run("tenants", "delete", new_slug, "--purge", "--force")
    assert purged.exit_code == 0, purged.output
    assert "dropped" in purged.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenants", "create", "www"], "reserved"),
        (["tenants", "create", "No_Good"], "invalid_slug"),
        (["tenants", "show", "no-such-tenant"], "tenant_not_found"),
        (["tenants", "resume", "no-such-tenant"], "tenant_not_found"),
    ],
)
def test_errors_are_one_line_and_exit_1(run, args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_duplicate_create_is_refused(run):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run("tenants", "create", slug).exit_code == 0
    again = run("tenants", "create", slug)
    assert again.exit_code == 1
    assert "slug_taken" in again.output


def test_custom_domain_commands(run):
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run("tenants", "create", slug).exit_code == 0
    domain = f"www.{slug}.dev"
    added = run("tenants", "domains", "add", slug, domain)
    assert added.exit_code == 0
    assert "_platform-verify" in added.output
    assert run("tenants", "domains", "add", slug, "app.example.com").exit_code == 1
    assert run("tenants", "domains", "verify", domain).exit_code == 0
    assert domain in run("tenants", "domains", "list", slug).output
    assert run("tenants", "domains", "remove", domain).exit_code == 0
    assert run("tenants", "domains", "verify", domain).exit_code == 1


def test_delete_and_restore_are_recorded_in_the_tenants_audit_log(run, sync_db):
    from sqlalchemy import select

    from platform_core.audit.models import AuditEvent
    from platform_core.operators.models import OperatorAction
    from tenants.models import Tenant

    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run("tenants", "create", slug).exit_code == 0
    refused = run("tenants", "restore", slug)
    assert refused.exit_code == 1
    assert "invalid_tenant_state" in refused.output
    assert run("tenants", "delete", slug).exit_code == 0
    restored = run("tenants", "restore", slug)
    assert restored.exit_code == 0, restored.output
    assert json.loads(run("tenants", "show", slug, "--json").output)["status"] == "active"
    with sync_db.sync_session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        logged = session.scalars(
            select(OperatorAction.action)
            .where(OperatorAction.target_id == slug)
            .order_by(OperatorAction.occurred_at)
        ).all()
    with sync_db.sync_session(tenant.schema_name) as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.occurred_at)).all()
    assert actions == ["tenant.deleted", "tenant.restored"]
    assert logged == ["tenant.deleted", "tenant.restored"]
