"""Request and response bodies for uploads."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from platform_core.kernel.paging import Page
from platform_core.uploads.storage import MAX_OBJECT_BYTES

# Bidirectional overrides and isolates make "txt.exe" display as "exe.txt".
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"  # an RFC 6838 type, subtype or parameter name
_QUOTED = r'"[^"\\\x00-\x1f\x7f]{0,100}"'
_CONTENT_TYPE = re.compile(rf"^{_NAME}/{_NAME}(\s*;\s*{_NAME}=({_NAME}|{_QUOTED}))*$")


def _file_name(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be empty")
    if any(unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI for c in value):
        raise ValueError("must not contain control characters")
    if "/" in value or "\\" in value or value in (".", ".."):
        raise ValueError("must be a file name, not a path")
    return value


def _content_type(value: str) -> str:
    value = value.strip().lower()
    if not _CONTENT_TYPE.match(value):
        raise ValueError("must be a media type such as `image/png` or `text/plain; charset=utf-8`")
    return value


# The rules of _file_name, stated in the schema (ECMA-262 syntax) for clients and the documents.
_FILE_NAME_RULE = {
    "minLength": 1,
    "pattern": (
        r"^(?!\s*\.{1,2}\s*$)(?=.*\S)"
        r"[^/\\\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+$"
    ),
}
FileName = Annotated[
    str,
    StringConstraints(max_length=255),
    AfterValidator(_file_name),
    Field(
        description="A file name, not a path: no `/` or `\\`, no control characters.",
        json_schema_extra=_FILE_NAME_RULE,
    ),
]
ContentType = Annotated[str, StringConstraints(max_length=255), AfterValidator(_content_type)]


class UploadCreate(BaseModel):
    """A file about to be uploaded: its name, media type and exact size."""

    model_config = ConfigDict(extra="forbid")

    filename: FileName
    content_type: ContentType = "application/octet-stream"
    size_bytes: Annotated[int, Field(strict=True, ge=0, le=MAX_OBJECT_BYTES)]


class DirectUploadFile(BaseModel):
    """The file part of a direct upload: the name and media type its part headers give."""

    model_config = ConfigDict(extra="forbid")

    filename: FileName
    content_type: ContentType = "application/octet-stream"


class UploadState(StrEnum):
    """Where an upload is: waiting for its file, past its upload link, or stored."""

    PENDING = "pending"
    EXPIRED = "expired"
    STORED = "stored"


class UploadRead(BaseModel):
    """An upload as the API shows it."""

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    status: UploadState
    created_at: datetime
    upload_expires_at: datetime
    stored_at: datetime | None
    uploaded_by_id: uuid.UUID | None


class UploadLink(BaseModel):
    """Where and how to send the file: a form POST of `fields`, then the file as field `file`."""

    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_at: datetime


class UploadCreated(UploadRead):
    """A new pending upload and the signed form that sends its file to the storage."""

    upload: UploadLink


class UploadDetail(UploadRead):
    """One upload, with a signed download link once it is stored."""

    download_url: str | None
    download_expires_at: datetime | None


class UploadPage(Page[UploadRead]):
    """One page of uploads, newest first, and the total matching the filter."""
