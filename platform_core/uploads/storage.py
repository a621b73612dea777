"""The uploads bucket through boto3: signed upload and download links, HEAD and DELETE.

boto3 is synchronous: async code calls these methods with `anyio.to_thread.run_sync`. The client is
created once per process (creating one costs tens of milliseconds) and is safe to share between threads.
Every boto3 failure becomes `StorageUnavailable` (503), so a storage outage is never a bare 500.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from platform_core.uploads.exceptions import StorageUnavailable
from platform_core.uploads.settings import S3Settings, get_s3_settings

if TYPE_CHECKING:  # the stub package (boto3-stubs[s3]) exists only for the type checker
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CORSRuleTypeDef, ObjectIdentifierTypeDef

P = ParamSpec("P")
T = TypeVar("T")
# S3 takes at most 5 GiB in one POST or PUT; larger files would need a multipart upload.
MAX_OBJECT_BYTES = 5 * 1024**3
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the storage says about an object: its size and the media type it was stored with."""

    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """A browser-style form upload: POST `fields` and then the file (field `file`) to `url`."""

    url: str
    fields: dict[str, str]


def _storage_errors(method: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(details={"reason": type(exc).__name__}) from exc

    return wrapper


def content_disposition(filename: str) -> str:
    """An attachment header naming the file, readable by old and new clients (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class ObjectStore:
    """One bucket of one S3-compatible service."""

    def __init__(self, client: S3Client, bucket: str, *, link_seconds: int = 900) -> None:
        """Wrap a boto3 S3 client, the bucket it stores uploads in, and the life of signed links."""
        self.client = client
        self.bucket = bucket
        self.link_seconds = link_seconds

    @_storage_errors
    def presign_post(self, key: str, *, size: int, content_type: str) -> PresignedPost:
        """A signed form upload of exactly `size` bytes to `key` (S3 refuses any other length)."""
        post = self.client.generate_presigned_post(
            self.bucket,
            key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=self.link_seconds,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    @_storage_errors
    def presign_get(self, key: str, *, filename: str) -> str:
        """A signed download link that saves the object under `filename`."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(filename),
                },
                ExpiresIn=self.link_seconds,
            )
        )

    @_storage_errors
    def put(self, key: str, body: bytes, *, content_type: str) -> None:
        """Store `body` at `key` (a file the platform made, such as a report)."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    @_storage_errors
    def start_multipart(self, key: str, *, content_type: str) -> str:
        """Begin a multipart upload to `key`; return its id (nothing is visible until it completes)."""
        answer = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return str(answer["UploadId"])

    @_storage_errors
    def upload_part(self, key: str, multipart_id: str, number: int, body: bytes) -> str:
        """Send part `number` (from 1; all but the last at least 5 MiB); return its ETag."""
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=multipart_id, PartNumber=number, Body=body
        )
        return str(answer["ETag"])

    @_storage_errors
    def complete_multipart(self, key: str, multipart_id: str, etags: Sequence[str]) -> None:
        """Join the sent parts, in order, into the object at `key`."""
        parts: list[CompletedPartTypeDef] = [
            {"ETag": etag, "PartNumber": number} for number, etag in enumerate(etags, start=1)
        ]
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=multipart_id, MultipartUpload={"Parts": parts}
        )

    @_storage_errors
    def abort_multipart(self, key: str, multipart_id: str) -> None:
        """Drop a multipart upload and the parts sent so far."""
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=multipart_id)

    @_storage_errors
    def download(self, key: str, out: IO[bytes]) -> None:
        """Write the object's bytes to `out`."""
        self.client.download_fileobj(self.bucket, key, out)

    def size_of(self, key: str) -> int | None:
        """The stored object's size in bytes, or None when there is no such object."""
        stored = self.head(key)
        return None if stored is None else stored.size

    @_storage_errors
    def head(self, key: str) -> StoredObject | None:
        """The stored object's size and media type, or None when there is no such object."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise
        return StoredObject(size=int(head["ContentLength"]), content_type=str(head.get("ContentType", "")))

    @_storage_errors
    def delete(self, key: str) -> None:
        """Delete one object (deleting a missing object succeeds)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)

    @_storage_errors
    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete objects, 1,000 per request; raise if any could not be deleted."""
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [{"Key": key} for key in keys[start : start + 1000]]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                raise StorageUnavailable(details={"failed_keys": [e.get("Key") for e in answer["Errors"]]})

    @_storage_errors
    def list_objects(self, prefix: str) -> list[tuple[str, datetime]]:
        """Every object under `prefix`: its key and when it was last written."""
        found: list[tuple[str, datetime]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend((item["Key"], item["LastModified"]) for item in page.get("Contents", []))
        return found

    @_storage_errors
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; return how many there were."""
        count = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [item["Key"] for item in page.get("Contents", [])]
            self.delete_many(keys)
            count += len(keys)
        return count

    @_storage_errors
    def allow_browser_uploads(self, origins: Sequence[str], *, max_age_seconds: int = 3600) -> None:
        """Set the bucket's CORS rule so pages served from `origins` may send files to it with a signed
        form (POST, or PUT) and read them (GET, HEAD). Replaces the bucket's CORS configuration."""
        self.client.put_bucket_cors(
            Bucket=self.bucket,
            CORSConfiguration={"CORSRules": [browser_upload_rule(origins, max_age_seconds=max_age_seconds)]},
        )

    @_storage_errors
    def cors_rules(self) -> list[dict[str, Any]]:
        """The bucket's CORS rules (none: an empty list)."""
        try:
            answer = self.client.get_bucket_cors(Bucket=self.bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) == "NoSuchCORSConfiguration":
                return []
            raise
        return [dict(rule) for rule in answer.get("CORSRules", [])]

    @_storage_errors
    def ensure_bucket(self, region: str = "") -> None:
        """Create the bucket unless it exists (development and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _MISSING:
                raise
        options: dict[str, Any] = {}
        if region and region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.client.create_bucket(Bucket=self.bucket, **options)


def browser_upload_rule(origins: Sequence[str], *, max_age_seconds: int = 3600) -> CORSRuleTypeDef:
    """The CORS rule browser uploads need: the console's origins may POST a signed form (PUT for
    clients that sign one), GET and HEAD; any request header (the upload's progress events make the
    browser ask first); the ETag readable."""
    if not origins:
        raise ValueError("browser uploads need at least one origin")
    return {
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["POST", "PUT", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": max_age_seconds,
    }


def browser_upload_origins(tenant_url_template: str, base_domain: str, extra: str = "") -> list[str]:
    """The origins of the tenant console, for the bucket's CORS rule: every tenant subdomain (the
    template with `*` for the slug, e.g. `https://*.example.com`) and any extra origins (custom
    domains), comma-separated."""
    wildcard = tenant_url_template.format(slug="*", base_domain=base_domain).rstrip("/")
    found = [wildcard, *(o.strip().rstrip("/") for o in extra.split(",") if o.strip())]
    return list(dict.fromkeys(found))


def make_client(settings: S3Settings) -> S3Client:
    """A boto3 S3 client for these settings, with bounded timeouts and retries."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": settings.max_attempts, "mode": "standard"},
    )
    # A session of its own: boto3's default session is not safe to create clients from in threads.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        region_name=settings.region or None,
        config=config,
    )


def make_store(settings: S3Settings) -> ObjectStore:
    """The uploads bucket for these settings; StorageUnavailable when no bucket is configured."""
    if not settings.bucket:
        raise StorageUnavailable("Uploads are not configured on this platform (no S3_BUCKET).")
    return ObjectStore(make_client(settings), settings.bucket, link_seconds=settings.presign_expiry_seconds)


@functools.lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    """The process's object store, created on first use."""
    return make_store(get_s3_settings())


def configured_store() -> ObjectStore | None:
    """The process's object store, or None when no bucket is configured."""
    return get_store() if get_s3_settings().bucket else None
