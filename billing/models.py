"""Billing state in `public`: the synced plan catalogue, each tenant's account, and Stripe's events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import PublicBase, TimestampMixin


class BillingPlan(PublicBase):
    """A catalogue plan as synced to Stripe: the product and price ids recorded by `sync-plans`."""

    __tablename__ = "billing_plan"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    catalog_version: Mapped[int] = mapped_column(Integer, nullable=False)
    stripe_product_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_price_monthly: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_price_yearly: Mapped[str | None] = mapped_column(String(255), unique=True)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingAccount(TimestampMixin, PublicBase):
    """One tenant's billing: its Stripe customer and the state of its subscription, as Stripe has it."""

    __tablename__ = "billing_account"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("public.tenant.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    plan_key: Mapped[str] = mapped_column(String(32), nullable=False, default="free")
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="none")
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    interval: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[int | None] = mapped_column(Integer)
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    past_due_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last checkout session started; a new checkout expires it, so two cannot both be paid.
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))


class StripeEvent(PublicBase):
    """A webhook event, stored before it is acknowledged; its id is Stripe's, so duplicates are ignored."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        Index("ix_stripe_event_status", "status", postgresql_where=text("status <> 'processed'")),
        Index("ix_stripe_event_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column()
