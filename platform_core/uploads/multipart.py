"""A multipart/form-data body read as it arrives: each part's headers, then its bytes, chunk by chunk.

FastAPI's `UploadFile` (starlette's form parser) reads the whole body before the route runs, spooling
each file to a temporary file with no limit on its size, so a cap could only be checked after the
bytes were on disk. Here python-multipart's streaming parser is fed from `request.stream()` and the
caller pulls events: nothing is held but the chunk being parsed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from platform_core.uploads.exceptions import MalformedForm, NotAForm

# A part's headers are a few hundred bytes; these bound what a hostile body can make us hold.
MAX_HEADER_COUNT = 8
MAX_HEADER_BYTES = 4096


@dataclass(frozen=True, slots=True)
class PartHeaders:
    """A part's field name, the file name the client gave (if any) and its declared media type."""

    name: str
    filename: str | None
    content_type: str | None


class FormStream:
    """Pull a form's parts one at a time from a stream of body chunks."""

    def __init__(self, content_type: str | None, chunks: AsyncIterator[bytes]) -> None:
        """Start parsing a body whose Content-Type is `content_type` (415 unless a multipart form)."""
        media_type, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise NotAForm
        self._chunks = chunks
        self._events: deque[tuple[str, bytes]] = deque()
        self._header: list[tuple[bytes, bytes]] = []
        self._field, self._value = b"", b""
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": lambda: self._events.append(("headers", b"")),
                    "on_part_data": lambda data, start, end: self._events.append(("data", data[start:end])),
                    "on_part_end": lambda: self._events.append(("part_end", b"")),
                    "on_end": self._end,
                },
                max_header_count=MAX_HEADER_COUNT,
                max_header_size=MAX_HEADER_BYTES,
            )
        except ValueError as exc:  # a boundary longer than the parser takes
            raise MalformedForm(details={"reason": str(exc)}) from exc

    def _part_begin(self) -> None:
        self._header = []

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._header.append((self._field.lower(), self._value))
        self._field, self._value = b"", b""

    def _end(self) -> None:
        self._ended = True

    async def _next_event(self) -> tuple[str, bytes]:
        """The next parser event, reading more of the body when none is waiting."""
        while not self._events:
            if self._ended:
                return "end", b""
            chunk = await anext(self._chunks, None)
            if chunk is None:  # the body stopped before the closing boundary
                raise MalformedForm("The form ended before its closing boundary.")
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise MalformedForm(details={"reason": str(exc)}) from exc
        return self._events.popleft()

    async def next_part(self) -> PartHeaders | None:
        """The next part's headers (skipping what is left of the current part), or None at the end."""
        while True:
            kind, _ = await self._next_event()
            if kind == "end":
                return None
            if kind == "headers":
                return self._part_headers()

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's bytes, as they arrive, until the part ends."""
        while True:
            kind, data = await self._next_event()
            if kind == "data":
                if data:
                    yield data
                continue
            if kind == "part_end":
                return
            raise MalformedForm("The form ended inside a part.")

    def _part_headers(self) -> PartHeaders:
        headers = dict(self._header)
        disposition, options = parse_options_header(headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedForm("A form part has no `Content-Disposition: form-data; name=...` header.")
        filename = options.get(b"filename")
        declared = headers.get(b"content-type")
        try:
            return PartHeaders(
                name=options[b"name"].decode(),
                filename=filename.decode() if filename is not None else None,
                content_type=declared.decode().strip() if declared else None,
            )
        except UnicodeDecodeError as exc:
            raise MalformedForm("A form part's headers are not UTF-8.") from exc
