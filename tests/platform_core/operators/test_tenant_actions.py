"""What an operator does to a tenant (platform_core/operators/tenants.py): the tenants lifecycle plus the
entry in the tenant's own audit log, in one transaction that the caller commits."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.operators import tenants as tenant_actions
from tenants.exceptions import InvalidTenantState
from tenants.models import Tenant


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_suspend_and_resume_are_recorded_in_the_tenants_audit_log(tenant_service, sync_db):
    slug = _slug("aud")
    tenant = tenant_service.create(slug=slug, name="Audited")
    tenant_service.suspend(slug, reason="chargeback")
    tenant_service.resume(slug)
    with sync_db.sync_session(tenant.schema_name) as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_label, AuditEvent.details)
        ).all()
    assert sorted(events) == sorted(
        [
            ("tenant.suspended", "operator", "platformctl", {"reason": "chargeback"}),
            ("tenant.resumed", "operator", "platformctl", {"from": "suspended"}),
        ]
    )


def test_the_change_and_its_audit_entry_commit_together_or_not_at_all(tenant_service, sync_db):
    tenant = tenant_service.create(slug=_slug("one"), name="One")
    with sync_db.sync_session() as session:
        tenant_actions.suspend_tenant(session, slug=tenant.slug, reason="rolled back")
        session.rollback()  # the caller owns the unit of work: nothing of it stays
    with sync_db.sync_session() as session:
        assert session.get_one(Tenant, tenant.id).status == "active"
    with sync_db.sync_session(tenant.schema_name) as session:
        assert session.scalars(select(AuditEvent)).all() == []
    tenant_service.mark_deleted(tenant.slug)
    with pytest.raises(InvalidTenantState), sync_db.sync_session() as session, session.begin():
        tenant_actions.suspend_tenant(session, slug=tenant.slug, reason="too late")
    with sync_db.sync_session(tenant.schema_name) as session:
        assert session.scalars(select(AuditEvent)).all() == []  # a refused change records nothing
