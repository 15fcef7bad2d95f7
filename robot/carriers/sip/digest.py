"""HTTP digest authentication for SIP (RFC 2617, RFC 7616 MD5/SHA-256, qop=auth)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from robot.errors import CarrierError

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestError(CarrierError):
    """A challenge we cannot answer (unknown scheme or algorithm, missing nonce)."""


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    opaque: str | None = None
    qop: tuple[str, ...] = ()
    stale: bool = False


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a ``WWW-Authenticate`` / ``Proxy-Authenticate`` value."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"authentication scheme {scheme[:20]!r} is not supported")
    params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(rest)}
    if "nonce" not in params:
        raise DigestError("digest challenge has no nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm.removesuffix("-SESS") not in _HASHES:
        raise DigestError(f"digest algorithm {algorithm!r} is not supported")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise DigestError(f"digest qop {params['qop']!r} is not supported (only auth)")
    return DigestChallenge(
        realm=params.get("realm", ""),
        nonce=params["nonce"],
        algorithm=algorithm,
        opaque=params.get("opaque"),
        qop=qop,
        stale=params.get("stale", "").lower() == "true",
    )


def digest_response(
    challenge: DigestChallenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` header value answering a challenge."""
    base = challenge.algorithm.removesuffix("-SESS")

    def h(text: str) -> str:
        return _HASHES[base](text.encode()).hexdigest()

    cnonce = cnonce or secrets.token_hex(8)
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    nc = f"{nonce_count:08x}"
    if challenge.qop:
        response = h(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.qop:
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)
