"""Webhook signatures: the one place requests to CRMs are signed and checked.

``Callrobot-Signature: t=UNIX,v1=HEX`` is always sent: ``HEX = HMAC-SHA256(secret,
f"{t}.{body}")`` over the exact body bytes, the whole secret string as key. Receivers check
the signature in constant time and refuse timestamps older (or newer) than a tolerance, so a
captured request cannot be replayed later.

Endpoints with ``standard_webhooks`` also get the Standard Webhooks headers
(https://www.standardwebhooks.com): ``webhook-id`` (the event id), ``webhook-timestamp`` (the
same UNIX time) and ``webhook-signature: v1,BASE64`` where ``BASE64`` is the HMAC-SHA256 of
``f"{id}.{timestamp}.{body}"`` keyed with the base64-decoded part of a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

from robot.errors import CallrobotError, ValidationError

SIGNATURE_HEADER = "Callrobot-Signature"
EVENT_ID_HEADER = "Callrobot-Event-Id"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
#: Signed timestamps further than this from the receiver's clock are refused.
DEFAULT_TOLERANCE_S = 300


class SignatureError(CallrobotError):
    """A webhook request is unsigned, badly signed or too old."""


def signature_hex(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Callrobot-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature_hex(secret, body, t)}"


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])`` of a header; raises SignatureError when malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as e:
                raise SignatureError(f"{SIGNATURE_HEADER}: bad timestamp {value!r}") from e
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None:
        raise SignatureError(f"{SIGNATURE_HEADER}: no t= timestamp")
    if not signatures:
        raise SignatureError(f"{SIGNATURE_HEADER}: no v1= signature")
    return timestamp, signatures


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a request's signature; return its timestamp or raise :class:`SignatureError`."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            f"{SIGNATURE_HEADER}: timestamp {timestamp} is {abs(current - timestamp):.0f} s "
            f"away from now (tolerance {tolerance_s:.0f} s)"
        )
    expected = signature_hex(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError(f"{SIGNATURE_HEADER}: signature does not match the body")
    return timestamp


def new_secret() -> str:
    """A fresh endpoint secret, usable for both schemes: ``whsec_`` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def standard_key(secret: str, field: str = "secret") -> bytes:
    """The HMAC key of a ``whsec_`` base64 secret; ValidationError naming ``field`` if not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValidationError(
            f"{field}: Standard Webhooks need a secret of the form whsec_BASE64 "
            "(standard base64 with padding)"
        ) from e
    if len(key) < 16:
        raise ValidationError(f"{field}: the base64 after whsec_ must hold at least 16 bytes")
    return key


def standard_signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,BASE64``) for ``body``."""
    message = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: str, event_id: str, body: bytes, *, standard: bool, timestamp: int | None = None
) -> dict[str, str]:
    """Every signing header of one request: ``Callrobot-Event-Id`` and
    ``Callrobot-Signature``, plus the Standard Webhooks headers when ``standard``."""
    t = int(time.time()) if timestamp is None else timestamp
    headers = {EVENT_ID_HEADER: event_id, SIGNATURE_HEADER: sign(secret, body, t)}
    if standard:
        headers[STANDARD_ID_HEADER] = event_id
        headers[STANDARD_TIMESTAMP_HEADER] = str(t)
        headers[STANDARD_SIGNATURE_HEADER] = standard_signature(secret, event_id, t, body)
    return headers
