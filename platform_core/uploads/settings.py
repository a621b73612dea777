"""Upload storage settings (prefix S3_): where files go and how long their signed links live.

Credentials are not settings here: boto3 finds them itself (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
a web identity token for IAM roles for service accounts, an instance profile), so the chart keeps them
in the Secret or needs none at all.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseSettings):
    """S3_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="S3_", env_file=".env", extra="ignore")

    # Empty: AWS S3. Set for MinIO or another S3-compatible server (make dev and the tests: moto).
    endpoint_url: str = ""
    # Empty: boto3's own resolution (AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
    region: str = ""
    # Empty: uploads are not configured and their routes answer 503.
    bucket: str = ""
    # `path` for servers addressed by a host name that cannot carry the bucket as a subdomain.
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Life of an upload link (and of the reservation of quota it holds) and of a download link.
    presign_expiry_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    # The largest file POST /api/v1/uploads/direct takes (it passes through the API; larger files
    # use a signed form). Within S3's 5 GiB for one object.
    direct_upload_max_bytes: int = Field(default=32 * 1024**2, ge=1, le=5 * 1024**3)
    # Comma-separated media types files may have (`image/png`, or `image/*` for a whole type); empty:
    # any. Checked on both ways of uploading, on the type without its parameters.
    allowed_content_types: str = ""
    # Seconds to connect, and to wait for each read of an answer, and the attempts per request (retries
    # included): a request that holds a pooled connection waits at most about attempts x (connect +
    # read) for a store that does not answer, then 503.
    connect_timeout_seconds: float = Field(default=3, gt=0, le=60)
    read_timeout_seconds: float = Field(default=10, gt=0, le=300)
    max_attempts: int = Field(default=2, ge=1, le=10)

    def allows(self, content_type: str) -> bool:
        """Whether a (lower-cased) media type is one files may have."""
        allowed = {t.strip().lower() for t in self.allowed_content_types.split(",") if t.strip()}
        if not allowed:
            return True
        essence = content_type.partition(";")[0].strip()
        return essence in allowed or f"{essence.partition('/')[0]}/*" in allowed


@lru_cache
def get_s3_settings() -> S3Settings:
    """The process's S3 settings (cached)."""
    return S3Settings()
