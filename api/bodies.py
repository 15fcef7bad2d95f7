"""Reading uploaded files: a raw body of an accepted type, or one part of a multipart form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from robot.errors import ValidationError

MULTIPART = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class Upload:
    text: str
    filename: str
    #: The media type the content was sent as (of the part, for multipart).
    media_type: str


def media_type_of(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationError(f"{what}: not UTF-8 text (byte {e.start})") from e


async def read_upload(
    request: Request,
    *,
    accepted: tuple[str, ...],
    default_filename: str,
    max_bytes: int,
    field: str = "file",
) -> Upload:
    """The uploaded text, from a raw body of an ``accepted`` type or the multipart ``field``."""
    upload = await read_upload_bytes(
        request,
        accepted=accepted,
        default_filename=default_filename,
        max_bytes=max_bytes,
        field=field,
    )
    where = field if media_type_of(request) == MULTIPART else "body"
    return Upload(_decode(upload.data, where), upload.filename, upload.media_type)


@dataclass(frozen=True, slots=True)
class BinaryUpload:
    data: bytes
    filename: str
    #: The media type the content was sent as (of the part, for multipart).
    media_type: str


async def read_upload_bytes(
    request: Request,
    *,
    accepted: tuple[str, ...],
    default_filename: str,
    max_bytes: int,
    field: str = "file",
    limit_name: str | None = None,
) -> BinaryUpload:
    """The uploaded bytes, from a raw body of an ``accepted`` type or the multipart ``field``;
    413 past ``max_bytes`` (naming the setting ``limit_name``), 415 for another content type."""
    media_type = media_type_of(request)
    too_large = f"larger than {max_bytes} bytes" + (f" (limit {limit_name})" if limit_name else "")
    if media_type == MULTIPART:
        form = await request.form()
        part: Any = form.get(field)
        if not isinstance(part, UploadFile):
            raise ValidationError(f"{field}: expected a file part named {field!r}")
        data = await part.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise PayloadTooLargeError(f"{field}: {too_large}")
        part_type = (part.content_type or "").split(";", 1)[0].strip().lower()
        return BinaryUpload(data, part.filename or default_filename, part_type)
    if media_type not in accepted:
        expected = ", ".join((*accepted, MULTIPART))
        raise UnsupportedMediaTypeError(
            f"Content-Type: {media_type or 'none'} is not accepted here; use one of {expected}"
        )
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise PayloadTooLargeError(f"body: {too_large}")
    return BinaryUpload(bytes(received), default_filename, media_type)


def upload_openapi(
    accepted: tuple[str, ...], description: str, example: str | None = None
) -> dict[str, Any]:
    """``openapi_extra`` describing a raw-or-multipart upload body."""
    raw: dict[str, Any] = {"schema": {"type": "string"}}
    if example is not None:
        raw["example"] = example
    content: dict[str, Any] = {media: raw for media in accepted}
    content[MULTIPART] = {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "format": "binary"}},
            "required": ["file"],
        }
    }
    return {"requestBody": {"required": True, "description": description, "content": content}}
