"""The plan catalogue, read from the versioned billing/plans.toml and validated once per process."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from limits import parse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLANS_FILE = Path(__file__).with_name("plans.toml")


class Interval(StrEnum):
    """How often a subscription is billed."""

    MONTHLY = "monthly"
    YEARLY = "yearly"


class Feature(StrEnum):
    """Features a plan can include."""

    REPORTS = "reports"
    API_KEYS = "api_keys"
    WEBHOOKS = "webhooks"
    AUDIT_EXPORT = "audit_export"


class Entitlements(BaseModel):
    """What a plan allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: int = Field(ge=1)
    storage_bytes: int = Field(ge=0)
    features: frozenset[Feature] = frozenset()
    api_rate_limit: str

    @field_validator("api_rate_limit")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        parse(value)  # ValueError for anything the limits notation does not read
        return value


class PlanSpec(BaseModel):
    """One plan of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,30}$")
    name: str = Field(min_length=1, max_length=100)
    trial_days: int = Field(default=0, ge=0, le=365)
    per_seat: bool = False
    prices: dict[Interval, int] = Field(default_factory=dict)
    entitlements: Entitlements

    @property
    def is_free(self) -> bool:
        """A plan without prices never involves Stripe."""
        return not self.prices


class Catalog(BaseModel):
    """Every plan, by key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    currency: str = Field(pattern=r"^[a-z]{3}$")
    default_plan: str
    plans: tuple[PlanSpec, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        keys = [p.key for p in self.plans]
        if len(set(keys)) != len(keys):
            raise ValueError("plan keys must be unique")
        if self.default_plan not in keys or not self.plan(self.default_plan).is_free:
            raise ValueError("default_plan must name a free plan of the catalogue")
        return self

    def plan(self, key: str) -> PlanSpec:
        """The plan with this key; KeyError when there is none."""
        for plan in self.plans:
            if plan.key == key:
                return plan
        raise KeyError(key)

    @property
    def default(self) -> PlanSpec:
        """The plan of a tenant without a subscription."""
        return self.plan(self.default_plan)


def load_catalog(path: Path = PLANS_FILE) -> Catalog:
    """Read and validate a catalogue file."""
    with path.open("rb") as handle:
        return Catalog.model_validate(tomllib.load(handle))


@lru_cache(maxsize=1)
def get_catalog() -> Catalog:
    """The catalogue shipped with the code (cached)."""
    return load_catalog()
