"""One call's RTP stream: G.711 in and out, paced sending, jitter buffer, DTMF, relay.

Sending is paced by the event loop clock: packet ``n`` is due at ``start + n * 20 ms``, so
sleep overshoot never accumulates. A packet sent more than 10 ms after its slot counts as late
(``late_packets``). Between prompts the stream carries encoded silence, so the peer and any NAT
on the way keep seeing packets. Received packets are latched (symmetric RTP: we answer to where
the peer really sends from), RTCP is recognised and ignored, and a jitter buffer restores order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from functools import cache

from robot.audio import AudioChunk
from robot.carriers.sip import g711
from robot.carriers.sip.clock import FRAME_S, LATE_AFTER_S, RESYNC_AFTER_S, MediaClock
from robot.carriers.sip.rtp import (
    SAMPLES_PER_FRAME,
    JitterBuffer,
    RtpError,
    RtpPacket,
    dtmf_payload,
    is_rtcp,
    parse_dtmf,
    parse_rtp,
)
from robot.carriers.sip.sdp import PCMA, PCMU, TELEPHONE_EVENT, MediaDescription
from robot.errors import CarrierError

log = logging.getLogger(__name__)

FRAME_BYTES = SAMPLES_PER_FRAME * 2
IDLE_FLUSH_S = 0.100
COMFORT_NOISE = 13  # RFC 3389 payload type
DTMF_TONE_FRAMES = 5  # 100 ms per digit
DTMF_GAP_FRAMES = 3
RELAY_MAX_FRAMES = 10

FrameHandler = Callable[[AudioChunk], None]
DigitHandler = Callable[[str], None]


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, session: RtpSession) -> None:
        self._session = session

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._session._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._session._closed.set()


class RtpSession:
    """Audio both ways for one call leg."""

    def __init__(
        self, on_frame: FrameHandler, on_digit: DigitHandler, clock: MediaClock | None = None
    ) -> None:
        self._clock = clock
        self._clocked = False
        self._on_frame = on_frame
        self._on_digit = on_digit
        self._udp: asyncio.DatagramTransport | None = None
        self._closed = asyncio.Event()
        self.local_port = 0
        self.remote: tuple[str, int] | None = None
        self.payload_type = PCMU
        self.dtmf_payload_type: int | None = TELEPHONE_EVENT
        self.sending_paused = False
        self.relay_to: RtpSession | None = None
        self._ssrc = secrets.randbits(32)
        self._sequence = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._play: deque[bytes] = deque()
        self._drained = asyncio.Event()
        self._drained.set()
        self._dtmf: deque[tuple[bytes, bool, bool]] = deque()  # payload, marker, first-of-digit
        self._dtmf_done: asyncio.Future[None] | None = None
        self._dtmf_timestamp = 0
        self._talking = False
        self._sender: asyncio.Task[None] | None = None
        self._jitter = JitterBuffer()
        self._remote_ssrc: int | None = None
        self._last_received_s = 0.0
        self._received_frames = 0
        self._pending_pcm = b""
        self._last_digit_timestamp: int | None = None
        self._latched = False
        self.sent_packets = 0
        self.late_packets = 0
        self.received_packets = 0
        self.rtcp_packets = 0
        self.invalid_packets = 0

    async def open(self, host: str, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        try:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _RtpProtocol(self), local_addr=(host, port)
            )
        except OSError as e:
            raise CarrierError(f"cannot bind an RTP port on {host}:{port}: {e}") from e
        self._udp = udp
        self.local_port = udp.get_extra_info("sockname")[1]

    @property
    def is_open(self) -> bool:
        return self._udp is not None

    def set_remote(self, media: MediaDescription) -> None:
        """Apply the peer's session description and start sending."""
        codec = media.audio_codec()
        if codec is None:
            raise CarrierError("the peer offered no G.711 codec (PCMU or PCMA)")
        self.payload_type = codec
        self.dtmf_payload_type = media.dtmf_payload_type()
        if not self._latched:
            self.remote = (media.address, media.port)
        self.sending_paused = media.on_hold  # the peer only sends or is inactive
        if self._udp is None or self._sender is not None or self._clocked:
            return
        if self._clock is not None:
            self._clock.add(self)
            self._clocked = True
        else:
            self._sender = asyncio.create_task(self._send_loop(), name="rtp-sender")

    # -- outgoing audio -------------------------------------------------------------------
    def play(self, chunk: AudioChunk) -> None:
        pcm = chunk.resampled(8000).pcm
        for start in range(0, len(pcm), FRAME_BYTES):
            frame = pcm[start : start + FRAME_BYTES]
            self._play.append(frame.ljust(FRAME_BYTES, b"\x00"))
        if self._play:
            self._drained.clear()

    def stop_playback(self) -> float:
        dropped_ms = len(self._play) * FRAME_S * 1000
        self._play.clear()
        self._drained.set()
        return dropped_ms

    async def playback_done(self) -> None:
        await self._drained.wait()

    @property
    def queued_ms(self) -> float:
        return len(self._play) * FRAME_S * 1000

    async def send_dtmf(self, digits: str) -> None:
        if self.dtmf_payload_type is None:
            raise CarrierError("the peer did not negotiate telephone-event; cannot send DTMF")
        if self._sender is None and not self._clocked:
            raise CarrierError("the call has no media yet; cannot send DTMF")
        packets: list[tuple[bytes, bool, bool]] = []
        for digit in digits:
            for i in range(DTMF_TONE_FRAMES):
                packets.append((dtmf_payload(digit, False, (i + 1) * 160), i == 0, i == 0))
            end = dtmf_payload(digit, True, DTMF_TONE_FRAMES * 160)
            packets += [(end, False, False)] * 3
            packets += [(b"", False, False)] * DTMF_GAP_FRAMES  # audio slots between digits
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dtmf.extend(packets)
        self._dtmf_done = done
        await done

    # -- the paced sender -----------------------------------------------------------------
    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slot = 0
        while True:
            due = start + slot * FRAME_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            behind = loop.time() - due
            if behind > RESYNC_AFTER_S:
                skipped = int(behind / FRAME_S)
                slot += skipped
                self._timestamp += skipped * SAMPLES_PER_FRAME
                self.late_packets += 1
            elif behind > LATE_AFTER_S:
                self.late_packets += 1
            self._send_slot(loop.time())
            slot += 1

    def _clock_tick(self, due_s: float, now_s: float) -> None:
        """One 20 ms slot driven by the carrier's shared :class:`MediaClock`."""
        if now_s - due_s > LATE_AFTER_S:
            self.late_packets += 1
        self._send_slot(now_s)

    def _skip_slots(self, slots: int) -> None:
        self._timestamp += slots * SAMPLES_PER_FRAME

    def _send_slot(self, now_s: float) -> None:
        if self._jitter_idle(now_s):
            # The peer went quiet (silence suppression, hold, DTMF): release what is held and
            # keep the callee timeline moving with one silent frame per slot, so silence
            # timers and endpointing downstream still see time pass.
            self._deliver(self._jitter.flush())
            self._deliver([None])
        if self._dtmf:
            payload, marker, first = self._dtmf.popleft()
            if payload:
                if first:
                    self._dtmf_timestamp = self._timestamp
                assert self.dtmf_payload_type is not None
                self._send(self.dtmf_payload_type, payload, marker, self._dtmf_timestamp)
                self._timestamp += SAMPLES_PER_FRAME
                return
            if not self._dtmf and self._dtmf_done is not None and not self._dtmf_done.done():
                self._dtmf_done.set_result(None)
        if self._play:
            frame = self._play.popleft()
            marker = not self._talking
            self._talking = True
            if not self._play:
                self._drained.set()
        else:
            self._talking = False
            self._send(self.payload_type, _silence(self.payload_type), False, self._timestamp)
            self._timestamp += SAMPLES_PER_FRAME
            return
        self._send(
            self.payload_type, g711.encode(frame, self.payload_type), marker, self._timestamp
        )
        self._timestamp += SAMPLES_PER_FRAME

    def _send(self, payload_type: int, payload: bytes, marker: bool, timestamp: int) -> None:
        if self._udp is None or self.remote is None or self.sending_paused:
            return
        packet = RtpPacket(payload_type, self._sequence, timestamp, self._ssrc, payload, marker)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._udp.sendto(packet.to_bytes(), self.remote)
        self.sent_packets += 1

    # -- receiving ------------------------------------------------------------------------
    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if is_rtcp(data):
            self.rtcp_packets += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError as e:
            self.invalid_packets += 1
            log.debug("dropping RTP datagram: %s", e)
            return
        self.received_packets += 1
        if source != self.remote:
            self.remote = source  # symmetric RTP: answer where the peer sends from
        self._latched = True
        if packet.payload_type == self.dtmf_payload_type and packet.payload_type not in (
            PCMU,
            PCMA,
        ):
            self._received_dtmf(packet)
            return
        if packet.payload_type not in (PCMU, PCMA):
            if packet.payload_type != COMFORT_NOISE:  # CN: the idle fill below covers it
                self.invalid_packets += 1
            return
        self._last_received_s = asyncio.get_running_loop().time()
        if packet.ssrc != self._remote_ssrc:
            self._deliver(self._jitter.flush())
            self._jitter = JitterBuffer(self._jitter.depth_frames)
            self._remote_ssrc = packet.ssrc
        pcm = g711.decode(packet.payload, packet.payload_type)
        self._deliver(self._jitter.push(packet.sequence, pcm))

    def _received_dtmf(self, packet: RtpPacket) -> None:
        try:
            digit, _end = parse_dtmf(packet.payload)
        except RtpError as e:
            log.debug("dropping telephone-event: %s", e)
            return
        if packet.timestamp != self._last_digit_timestamp:  # one event = one timestamp
            self._last_digit_timestamp = packet.timestamp
            self._on_digit(digit)

    def _jitter_idle(self, now_s: float) -> bool:
        return self._last_received_s > 0 and now_s - self._last_received_s > IDLE_FLUSH_S

    def _deliver(self, frames: list[bytes | None]) -> None:
        for frame in frames:
            pcm = self._pending_pcm + (frame if frame is not None else b"\x00" * FRAME_BYTES)
            while len(pcm) >= FRAME_BYTES:
                piece, pcm = pcm[:FRAME_BYTES], pcm[FRAME_BYTES:]
                chunk = AudioChunk(piece, 8000, self._received_frames * FRAME_S * 1000)
                self._received_frames += 1
                self._on_frame(chunk)
                relay = self.relay_to
                if relay is not None:
                    relay._relay_frame(piece)
            self._pending_pcm = pcm

    def _relay_frame(self, pcm: bytes) -> None:
        self._play.append(pcm)
        while len(self._play) > RELAY_MAX_FRAMES:
            self._play.popleft()
        self._drained.clear()

    async def close(self) -> None:
        if self._clock is not None:
            self._clock.discard(self)
            self._clocked = False
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        self._deliver(self._jitter.flush())
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            await asyncio.wait_for(self._closed.wait(), 1.0)  # the port is really released
        self._play.clear()
        self._drained.set()
        if self._dtmf_done is not None and not self._dtmf_done.done():
            self._dtmf_done.set_exception(CarrierError("the call ended before DTMF was sent"))
            self._dtmf_done.exception()  # mark retrieved when nobody awaits it


@cache
def _silence(payload_type: int) -> bytes:
    return g711.silence_payload(payload_type)
