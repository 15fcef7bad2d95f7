"""RTP packets (RFC 3550), the receive jitter buffer and RFC 4733 DTMF events."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from robot.errors import CarrierError

RTP_VERSION = 2
SAMPLES_PER_FRAME = 160  # 20 ms at 8 kHz
DTMF_DIGITS = "0123456789*#ABCD"
#: A larger sequence jump is a restarted stream, not loss.
MAX_GAP_FRAMES = 50


class RtpError(CarrierError):
    """A datagram that is not a valid RTP packet."""


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def to_bytes(self) -> bytes:
        first = RTP_VERSION << 6
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        header = struct.pack(
            "!BBHII",
            first,
            second,
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        return header + self.payload


def is_rtcp(data: bytes) -> bool:
    """RTCP shares the port with RTP in some peers; its packet types are 200-204 (RFC 5761)."""
    return len(data) >= 2 and 200 <= data[1] <= 204


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its header")
    first, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6} is not 2")
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("RTP header extension is truncated")
        (words,) = struct.unpack("!H", data[offset + 2 : offset + 4])
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:  # padding, its length in the last byte
        end -= data[-1]
    if offset > end:
        raise RtpError("RTP header is longer than the packet")
    return RtpPacket(
        second & 0x7F, sequence, timestamp, ssrc, data[offset:end], bool(second & 0x80)
    )


def sequence_after(a: int, b: int) -> bool:
    """True when 16-bit sequence number ``a`` comes after ``b`` (with wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class JitterBuffer:
    """Reorders frames by sequence number; gaps become ``None`` (lost, played as silence).

    In-order frames are released at once. When one is missing, later frames are held until
    ``depth_frames`` of them (60 ms by default) have arrived; then the gap is given up and
    filled. Packets older than what was already released are dropped as late.
    """

    def __init__(self, depth_frames: int = 3) -> None:
        self.depth_frames = depth_frames
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None
        self.late_packets = 0
        self.lost_packets = 0
        self.duplicate_packets = 0
        self._late_in_a_row = 0

    def push(self, sequence: int, frame: bytes) -> list[bytes | None]:
        if self._next is None:
            self._next = sequence
        elif sequence != self._next and not sequence_after(sequence, self._next):
            self.late_packets += 1
            self._late_in_a_row += 1
            if self._late_in_a_row <= MAX_GAP_FRAMES:
                return []
            self._frames.clear()  # the stream restarted far behind us: follow it
            self._next = sequence
        self._late_in_a_row = 0
        if sequence in self._frames:
            self.duplicate_packets += 1
            return []
        self._frames[sequence] = frame
        out: list[bytes | None] = []
        while self._frames:
            if self._next in self._frames:
                out.append(self._frames.pop(self._next))
                self._next = (self._next + 1) & 0xFFFF
            elif len(self._frames) >= self.depth_frames:
                oldest = min(self._frames, key=lambda s: (s - self._next) & 0xFFFF)  # type: ignore[operator]
                if (oldest - self._next) & 0xFFFF > MAX_GAP_FRAMES:
                    self._next = oldest  # the stream jumped: resynchronise, no silence burst
                    continue
                out.append(self._release_next())
            else:
                break
        return out

    def _release_next(self) -> bytes | None:
        assert self._next is not None
        frame = self._frames.pop(self._next, None)
        if frame is None:
            self.lost_packets += 1
        self._next = (self._next + 1) & 0xFFFF
        return frame

    def flush(self) -> list[bytes | None]:
        """Release everything held (end of call or the peer paused)."""
        out: list[bytes | None] = []
        while self._frames:
            out.append(self._release_next())
        return out


def dtmf_payload(digit: str, end: bool, duration_samples: int, volume_db: int = 10) -> bytes:
    """One RFC 4733 telephone-event payload."""
    event = DTMF_DIGITS.find(digit.upper())
    if event < 0 or len(digit) != 1:
        raise CarrierError(f"DTMF digit {digit!r} is not one of {DTMF_DIGITS}")
    flags = (0x80 if end else 0) | (volume_db & 0x3F)
    return struct.pack("!BBH", event, flags, min(duration_samples, 0xFFFF))


def parse_dtmf(payload: bytes) -> tuple[str, bool]:
    """(digit, end-of-event) from a telephone-event payload."""
    if len(payload) < 4:
        raise RtpError("telephone-event payload is shorter than 4 bytes")
    if payload[0] >= len(DTMF_DIGITS):
        raise RtpError(f"telephone-event {payload[0]} is not a DTMF digit")
    return DTMF_DIGITS[payload[0]], bool(payload[1] & 0x80)
