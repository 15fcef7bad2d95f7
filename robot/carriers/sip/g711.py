"""G.711 µ-law and A-law codecs in numpy (ITU-T G.711, the classic segment tables).

Encoding uses a 65,536-entry lookup table per law and decoding a 256-entry one, built once on
first use, so a 20 ms frame costs two numpy indexing operations.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from robot.carriers.sip.sdp import PCMA, PCMU
from robot.errors import CarrierError

_ULAW_SEGMENT_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_samples() -> np.ndarray:
    # Index i of the table is the int16 whose uint16 bit pattern is i.
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


@cache
def _ulaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    segment = np.searchsorted(_ULAW_SEGMENT_END, magnitude, side="left")
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8)


@cache
def _alaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_END, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    value = (segment << 4) | ((magnitude >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8)


@cache
def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype("<i2")


@cache
def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype("<i2")


def encode(pcm: bytes, payload_type: int) -> bytes:
    """16-bit little-endian PCM -> G.711 bytes for payload type 0 (PCMU) or 8 (PCMA)."""
    samples = np.frombuffer(pcm, dtype="<u2")
    if payload_type == PCMU:
        return bytes(_ulaw_encode_table()[samples].tobytes())
    if payload_type == PCMA:
        return bytes(_alaw_encode_table()[samples].tobytes())
    raise CarrierError(f"payload type {payload_type} is not G.711")


def decode(payload: bytes, payload_type: int) -> bytes:
    """G.711 bytes -> 16-bit little-endian PCM."""
    codes = np.frombuffer(payload, dtype=np.uint8)
    if payload_type == PCMU:
        return bytes(_ulaw_decode_table()[codes].tobytes())
    if payload_type == PCMA:
        return bytes(_alaw_decode_table()[codes].tobytes())
    raise CarrierError(f"payload type {payload_type} is not G.711")


def silence_payload(payload_type: int, samples: int = 160) -> bytes:
    return encode(b"\x00\x00" * samples, payload_type)
