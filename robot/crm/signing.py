"""Webhook signatures: ``Callrobot-Signature: t=UNIX,v1=HEX``.

``HEX = HMAC-SHA256(secret, f"{t}.{body}")`` over the exact body bytes. Receivers check the
signature in constant time and refuse timestamps older (or newer) than a tolerance, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from robot.errors import CallrobotError

SIGNATURE_HEADER = "Callrobot-Signature"
EVENT_ID_HEADER = "Callrobot-Event-Id"
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
