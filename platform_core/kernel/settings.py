"""Platform settings, read once from the environment (pydantic-settings)."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_core.kernel.security.tokens import SigningKeys

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The two Alembic histories ship inside the package, so an installed wheel can migrate on its own.
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused outside development
DEFAULT_RESERVED = (
    "www,api,admin,app,apps,auth,billing,dashboard,docs,help,mail,static,status,support,"
    "assets,cdn,console,login,platform,public,system,test,demo-admin"
)


class Environment(StrEnum):
    """Where the platform runs."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob of the platform kernel; domains add their own prefixed settings classes."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "postgresql://postgres@127.0.0.1:5432/platform"
    redis_url: str = "redis://127.0.0.1:6379/0"
    base_domain: str = "localhost"
    secret_key: str = DEV_SECRET_KEY
    reserved_subdomains: str = DEFAULT_RESERVED
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_recycle_seconds: int = Field(default=1800, ge=30)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    # Behind PgBouncer in transaction mode: no prepared statements, no startup options.
    db_behind_pgbouncer: bool = False
    # Tenant-affine routing of the API's tenant sessions (platform_core/kernel/db/affinity.py): each
    # tenant schema is hashed to one of DB_TENANT_SLICES pools of DB_SLICE_POOL_SIZE connections, with
    # no overflow, so a PostgreSQL backend only caches the catalogs of its slice's schemas and the pool
    # never closes and reopens connections under steady load. Off: one pool (DB_POOL_SIZE +
    # DB_MAX_OVERFLOW) for every tenant. The public pool keeps DB_POOL_SIZE + DB_MAX_OVERFLOW either
    # way, and the CLI and workers (which give their own small pool size) never slice.
    db_tenant_affinity: bool = True
    db_tenant_slices: int = Field(default=8, ge=1, le=256)
    db_slice_pool_size: int = Field(default=2, ge=1, le=64)
    # How long a lean read of a tenant with nothing else open in the process waits for its slice's
    # connection before spilling to the shared pool (a busier tenant spills at once); 0: never waits.
    # It keeps spread reads on their slice's warm backends (README, "Pools and many tenants").
    db_slice_wait_ms: int = Field(default=100, ge=0, le=10_000)
    # A pooled connection is replaced once it has served this many distinct tenant schemas (its
    # backend's catalog caches grow with each one and never shrink); 0 never replaces it for that.
    db_recycle_after_schemas: int = Field(default=2_000, ge=0)
    tenant_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    # Load every live tenant's hosts into the host cache when the change listener connects, and
    # reload them before they expire, so spread traffic never waits for a lookup (tenants/resolution.py).
    tenant_cache_preload: bool = True
    tenant_delete_grace_days: int = Field(default=30, ge=0)
    # Tenant schemas built ahead of time for signups to claim (beat tops the pool up; 0: none kept).
    tenant_schema_pool_size: int = Field(default=10, ge=0, le=1000)
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
    migration_jobs: int = Field(default=4, ge=1, le=64)
    log_level: str = "INFO"
    log_format: str = "json"
    sentry_dsn: str = ""
    request_id_header: str = "X-Request-ID"
    forwarded_allow_ips: str = "127.0.0.1"
    # How links in emails reach a tenant; {slug} and {base_domain} are filled in.
    tenant_url_template: str = "https://{slug}.{base_domain}"
    # The reserved subdomain that serves the operator API (admin.<BASE_DOMAIN>).
    operator_host: str = "admin"

    # Serving (uvicorn): an idle keep-alive connection closes after KEEP_ALIVE_TIMEOUT_SECONDS (above a
    # load balancer's usual 60 s idle timeout, so the balancer always closes first); a request's headers
    # must arrive within REQUEST_HEADER_TIMEOUT_SECONDS of its first byte, and each part of its body within
    # REQUEST_BODY_TIMEOUT_SECONDS of the previous one (408 otherwise), so slow clients cannot hold
    # connections. Prometheus metrics are served on METRICS_HOST:METRICS_PORT only (0 disables them).
    keep_alive_timeout_seconds: int = Field(default=75, ge=1, le=3600)
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9100, ge=0, le=65535)

    # Identity: access-token signing keys `kid:secret,...` (the first signs, all verify); empty means
    # one key derived from SECRET_KEY, which is refused outside development anyway.
    jwt_keys: str = ""
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    # How long a resolved principal may be reused by a process (changes through the API invalidate it
    # at once in every process; this bounds changes made by hand in the database). 0 disables it.
    principal_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=3600)
    # argon2 hashes run in threads, at most this many at once per process (19 MiB of memory each).
    password_hash_threads: int = Field(default=4, ge=1, le=64)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    operator_token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    # The web console's browser session: it ends CONSOLE_SESSION_HOURS after its last use (each use
    # renews it), and at most REFRESH_TOKEN_TTL_DAYS after sign-in.
    console_session_hours: int = Field(default=12, ge=1, le=720)
    email_verification_ttl_hours: int = Field(default=48, ge=1)
    password_reset_ttl_hours: int = Field(default=2, ge=1)
    set_password_ttl_hours: int = Field(default=72, ge=1)
    invitation_ttl_hours: int = Field(default=168, ge=1)
    # Login throttling in Redis (the `limits` notation): attempts per client IP, and attempts
    # per account (tenant + email, whether or not the account exists).
    login_limit_per_ip: str = "30/minute"
    login_limit_per_account: str = "5/15minutes"
    # Password-reset and verification emails per account, so nobody can mail-bomb an address.
    email_link_limit_per_account: str = "5/hour"

    @field_validator("base_domain")
    @classmethod
    def _normalise_domain(cls, value: str) -> str:
        return value.strip().lower().rstrip(".")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        relaxed = self.env in (Environment.DEVELOPMENT, Environment.TEST)
        if not relaxed and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise ValueError("SECRET_KEY must be set to a random value of 32+ characters outside development")
        SigningKeys.parse(self.signing_keys_spec)  # ValueError names what is wrong with JWT_KEYS
        if self.operator_host not in self.reserved:
            raise ValueError(f"OPERATOR_HOST {self.operator_host!r} must be one of RESERVED_SUBDOMAINS")
        return self

    @property
    def signing_keys_spec(self) -> str:
        """JWT_KEYS, or one key derived from SECRET_KEY when none are configured."""
        if self.jwt_keys.strip():
            return self.jwt_keys
        derived = hashlib.sha256(f"jwt:{self.secret_key}".encode()).hexdigest()
        return f"k0:{derived}"

    @property
    def reserved(self) -> frozenset[str]:
        """Subdomains that serve platform endpoints and can never be tenant slugs."""
        return frozenset(s.strip() for s in self.reserved_subdomains.split(",") if s.strip())

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry `Secure` (outside development and test, which serve plain HTTP)."""
        return self.env is Environment.PRODUCTION

    def tenant_url(self, slug: str, path: str = "") -> str:
        """The absolute URL of a path on a tenant's host, for links sent outside the app."""
        return self.tenant_url_template.format(slug=slug, base_domain=self.base_domain) + path

    @property
    def sync_database_url(self) -> str:
        """The database URL with the psycopg 3 driver named for SQLAlchemy."""
        return to_sqlalchemy_url(self.database_url)


def to_sqlalchemy_url(url: str) -> str:
    """Name the psycopg 3 driver in a plain `postgresql://` URL (SQLAlchemy's default is psycopg2)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def to_libpq_url(url: str) -> str:
    """Strip the SQLAlchemy driver name so psycopg can connect directly."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached)."""
    return Settings()
