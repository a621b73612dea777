"""Paging for every list endpoint: the query parameters and the page schema.

Rules (README, "Lists and paging"): `page` from 1, `page_size` 1-100 (default 20); the answer is
`{items, total, page, page_size}`, where `total` counts every row matching the filters, also on a page
past the end. The page query every repository runs is `fetch_page` (platform_core/kernel/repository.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Self, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel

MAX_PAGE = 100_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageParams:
    """Which page of a list to return."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        """Rows on this page at most."""
        return self.page_size


async def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    """Read the paging query parameters of a list request (async: FastAPI runs a sync dependency in a
    worker thread, a hand-off that cost more than the whole function)."""
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list and the total number of rows matching its filters."""

    items: list[T]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, items: Sequence[Any], total: int, params: PageParams) -> Self:
        """Build the page of `params` from its rows and the total."""
        return cls(items=list(items), total=total, page=params.page, page_size=params.page_size)


def encode_page(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int, params: PageParams
) -> bytes:
    """The JSON of a page from rows (one value per column, in order), as `Page.of(...)` serialises.

    For lean list routes (kernel/db/reads.py): one pass, no model objects. orjson writes UUIDs and
    datetimes as pydantic does (ISO 8601, `Z` for UTC); `tests/platform_core/kernel/test_reads.py`
    compares the two byte for byte.
    """
    items = [dict(zip(columns, row, strict=False)) for row in rows]
    page = {"items": items, "total": total, "page": params.page, "page_size": params.page_size}
    return orjson.dumps(page, option=orjson.OPT_UTC_Z)
