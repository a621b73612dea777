"""Reports: files built in the background for a tenant."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import IdMixin, TenantBase, TimestampMixin


class Report(IdMixin, TimestampMixin, TenantBase):
    """A built report; its id is the id of the job that built it."""

    __tablename__ = "report"
    __table_args__ = (CheckConstraint("(key IS NULL) <> (content IS NULL)", name="stored_once"),)

    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    # Where the file is: an object key in the storage (S3_BUCKET), or, without one, the bytes here.
    key: Mapped[str | None] = mapped_column(String(1024))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
