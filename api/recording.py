"""Serving a recording file with single byte-range support (RFC 9110 §14)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from fastapi.responses import Response, StreamingResponse

from robot.errors import NotFoundError

CHUNK_BYTES = 64 * 1024


def wav_responses(whole: str, missing: str) -> dict[int | str, dict[str, object]]:
    """The OpenAPI ``responses`` of a route serving a WAV with :func:`recording_response`:
    ``whole`` describes the file, ``missing`` when there is none."""
    return {
        200: {"content": {"audio/wav": {}}, "description": whole},
        206: {"content": {"audio/wav": {}}, "description": "The requested byte range."},
        404: {"description": missing},
        416: {"description": "The range cannot be satisfied."},
    }


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for one ``bytes=`` range; None when unsatisfiable.

    Raises ValueError for a header that is not a single byte range (then the range is
    ignored and the whole file is sent, as RFC 9110 allows).
    """
    match = _RANGE.match(header)
    if match is None:
        raise ValueError("not a single bytes range")
    start_text, end_text = match.groups()
    if not start_text and not end_text:
        raise ValueError("empty range")
    if not start_text:
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            return None
        return max(0, size - suffix), size - 1
    first = int(start_text)
    last = int(end_text) if end_text else size - 1
    if end_text and last < first:
        raise ValueError("last byte before first byte")
    if first >= size:
        return None
    return first, min(last, size - 1)


def _read(path: Path, first: int, last: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def recording_response(
    file_path: str, range_header: str | None, call_id: int, *, kind: str = "call"
) -> Response:
    """The WAV at ``file_path`` (``kind`` ``call`` or ``conference`` names the download)."""
    path = Path(file_path)
    if not path.is_file():
        raise NotFoundError(f"{kind} {call_id}: the recording file is missing")
    size = path.stat().st_size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{kind}-{call_id}.wav"',
    }
    if range_header:
        try:
            wanted = parse_range(range_header, size)
        except ValueError:
            wanted = (0, size - 1) if size else None
            range_header = None
        if range_header is not None:
            if wanted is None:
                return Response(
                    status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"}
                )
            first, last = wanted
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            headers["Content-Length"] = str(last - first + 1)
            return StreamingResponse(
                _read(path, first, last), status_code=206, media_type="audio/wav", headers=headers
            )
    headers["Content-Length"] = str(size)
    return StreamingResponse(_read(path, 0, size - 1), media_type="audio/wav", headers=headers)
