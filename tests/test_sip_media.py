"""G.711, RTP packets, the jitter buffer and RTP sessions over real UDP sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot.audio import AudioChunk
from robot.carriers.sip import g711
from robot.carriers.sip.clock import MediaClock
from robot.carriers.sip.media import RtpSession
from robot.carriers.sip.rtp import (
    JitterBuffer,
    RtpError,
    RtpPacket,
    dtmf_payload,
    is_rtcp,
    parse_dtmf,
    parse_rtp,
)
from robot.carriers.sip.sdp import MediaDescription
from robot.errors import CarrierError


def dominant_frequency_hz(samples: np.ndarray, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's C implementation, as a reference


@pytest.mark.parametrize("payload_type", [0, 8])
def test_g711_matches_reference_codec_on_every_sample(payload_type: int) -> None:
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()
    every_code = bytes(range(256))
    if payload_type == 0:
        assert g711.encode(every_sample, 0) == audioop.lin2ulaw(every_sample, 2)
        assert g711.decode(every_code, 0) == audioop.ulaw2lin(every_code, 2)
    else:
        assert g711.encode(every_sample, 8) == audioop.lin2alaw(every_sample, 2)
        assert g711.decode(every_code, 8) == audioop.alaw2lin(every_code, 2)
    with pytest.raises(CarrierError, match=r"not G\.711"):
        g711.encode(b"\x00\x00", 9)


def test_rtp_packet_round_trip_and_rejects() -> None:
    packet = RtpPacket(8, 65535, 2**32 - 1, 0xDEADBEEF, b"\x55" * 160, marker=True)
    parsed = parse_rtp(packet.to_bytes())
    assert parsed == packet
    with_csrc_and_padding = bytearray(packet.to_bytes())
    with_csrc_and_padding[0] |= 0x21  # one CSRC, padding
    data = bytes(with_csrc_and_padding[:12]) + b"CSRC" + b"\x55" * 160 + b"\x00\x00\x03"
    assert parse_rtp(data).payload == b"\x55" * 160
    with pytest.raises(RtpError, match="shorter"):
        parse_rtp(b"\x80\x00")
    with pytest.raises(RtpError, match="version"):
        parse_rtp(b"\x40" + bytes(20))
    assert is_rtcp(b"\x80\xc8" + bytes(26)) and not is_rtcp(packet.to_bytes())


def test_jitter_buffer_reorders_fills_gaps_and_drops_late() -> None:
    buffer = JitterBuffer(depth_frames=3)
    released: list[bytes | None] = []
    for sequence in [65534, 0, 65535, 2, 3, 4, 1]:  # wraps; 1 arrives too late
        released += buffer.push(sequence, bytes([sequence % 256]))
    assert released == [b"\xfe", b"\xff", b"\x00", None, b"\x02", b"\x03", b"\x04"]
    assert buffer.lost_packets == 1 and buffer.late_packets == 1
    assert buffer.push(5, b"5") == [b"5"]
    assert buffer.push(5, b"5") == [] and buffer.late_packets == 2
    assert buffer.push(7, b"7") == [] and buffer.flush() == [None, b"7"]


def test_dtmf_payload_round_trip() -> None:
    assert parse_dtmf(dtmf_payload("#", True, 800)) == ("#", True)
    with pytest.raises(CarrierError, match="DTMF digit"):
        dtmf_payload("X", False, 160)


async def make_pair() -> tuple[RtpSession, RtpSession, list[AudioChunk], list[str]]:
    heard: list[AudioChunk] = []
    digits: list[str] = []
    a = RtpSession(lambda chunk: None, lambda digit: None)
    b = RtpSession(heard.append, digits.append)
    await a.open("127.0.0.1")
    await b.open("127.0.0.1")
    a.set_remote(MediaDescription("127.0.0.1", b.local_port, [8, 101], {101: "TELEPHONE-EVENT"}))
    return a, b, heard, digits


async def test_rtp_session_sends_paced_audio_and_dtmf() -> None:
    a, b, heard, digits = await make_pair()
    try:
        samples = (np.sin(np.arange(8000) * 2 * np.pi * 500 / 8000) * 12000).astype("<i2")
        a.play(AudioChunk.from_array(samples, 8000))
        assert a.queued_ms == 1000
        await asyncio.wait_for(a.playback_done(), 5)
        await asyncio.wait_for(a.send_dtmf("1#"), 5)
        await asyncio.sleep(0.2)
    finally:
        await a.close()
        await b.close()
    assert a.payload_type == 8
    assert digits == ["1", "#"]
    # the whole second of tone arrived as fifty 20 ms frames, decoded from A-law
    tone_frames = [c for c in heard if np.abs(c.to_array()).max() > 3000]
    assert len(tone_frames) == 50
    assert (
        abs(dominant_frequency_hz(np.concatenate([c.to_array() for c in tone_frames])) - 500) < 10
    )
    assert a.sent_packets >= 60 and b.received_packets >= 60
    assert [c.timestamp_ms for c in heard[:3]] == [0.0, 20.0, 40.0]


async def test_stop_playback_drops_queued_audio_at_once() -> None:
    a, b, _heard, _digits = await make_pair()
    try:
        a.play(AudioChunk(b"\x10\x00" * 8000 * 3, 8000))
        await asyncio.sleep(0.1)
        dropped_ms = a.stop_playback()
        sent_before_stop = a.sent_packets
        await asyncio.wait_for(a.playback_done(), 0.5)
    finally:
        await a.close()
        await b.close()
    # every 20 ms frame was either sent before the barge-in or dropped by it
    assert sent_before_stop > 0
    assert dropped_ms == 3000 - 20 * sent_before_stop


async def test_symmetric_rtp_latches_and_rtcp_is_ignored() -> None:
    heard: list[AudioChunk] = []
    session = RtpSession(heard.append, lambda digit: None)
    await session.open("127.0.0.1")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    try:
        # the SDP names a port nobody uses; the peer really sends from another one
        session.set_remote(MediaDescription("127.0.0.1", 9, [0], {}))
        target = ("127.0.0.1", session.local_port)
        peer.sendto(b"\x80\xc9" + bytes(6), target)  # an RTCP receiver report
        peer.sendto(b"garbage", target)
        for sequence in range(5):
            packet = RtpPacket(0, sequence, sequence * 160, 1234, b"\xff" * 160)
            peer.sendto(packet.to_bytes(), target)
        loop = asyncio.get_running_loop()
        # our stream now comes to where the peer sends from, not to the SDP's port
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(peer, 2048), 2)
        assert parse_rtp(data).payload_type == 0
    finally:
        peer.close()
        await session.close()
    assert session.rtcp_packets == 1 and session.invalid_packets == 1
    assert len(heard) == 5  # the last ones flushed by the idle timer or at close


async def test_shared_media_clock_paces_streams_and_stops_when_idle() -> None:
    clock = MediaClock()
    receiver_frames: list[AudioChunk] = []
    receiver = RtpSession(receiver_frames.append, lambda digit: None)
    await receiver.open("127.0.0.1")
    senders = [RtpSession(lambda chunk: None, lambda digit: None, clock) for _ in range(2)]
    for sender in senders:
        await sender.open("127.0.0.1")
        sender.set_remote(MediaDescription("127.0.0.1", receiver.local_port, [0], {}))
    assert clock.running
    await asyncio.sleep(0.5)
    for sender in senders:
        await sender.close()
    await asyncio.sleep(0.05)
    await receiver.close()
    assert not clock.running  # no task left once its last stream closed
    sent = [s.sent_packets for s in senders]
    assert min(sent) > 0 and abs(sent[0] - sent[1]) <= 1  # one packet per slot each
    assert receiver.received_packets == sum(sent)


async def test_receive_timeline_keeps_moving_when_the_peer_goes_quiet() -> None:
    heard: list[AudioChunk] = []
    session = RtpSession(heard.append, lambda digit: None)
    await session.open("127.0.0.1")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        session.set_remote(MediaDescription("127.0.0.1", peer.getsockname()[1], [0], {}))
        target = ("127.0.0.1", session.local_port)
        loud = g711.encode(b"\x00\x20" * 160, 0)
        for sequence in range(5):
            peer.sendto(RtpPacket(0, sequence, sequence * 160, 99, loud).to_bytes(), target)
        peer.sendto(RtpPacket(13, 5, 800, 99, b"\x40").to_bytes(), target)  # comfort noise
        async with asyncio.timeout(5):
            while len(heard) < 10:  # silence suppression: nothing more arrives
                await asyncio.sleep(0.05)
    finally:
        peer.close()
        await session.close()
    assert all(np.abs(c.to_array()).max() > 1000 for c in heard[:5])
    assert all(not c.to_array().any() for c in heard[5:])  # filled with silence
    assert [c.timestamp_ms for c in heard[4:7]] == [80.0, 100.0, 120.0]
    assert session.invalid_packets == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_rtp_parser_and_receive_path(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        parse_rtp(data)
    session = RtpSession(lambda chunk: None, lambda digit: None)
    with contextlib.suppress(RtpError, CarrierError):
        parse_dtmf(data)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_receive_once(session, data))
    finally:
        loop.close()


async def _receive_once(session: RtpSession, data: bytes) -> None:
    session._received(data, ("127.0.0.1", 9))  # never raises, whatever arrives
    session._received(b"\x80\x00" + data[:10], ("127.0.0.1", 9))


async def test_packets_carry_continuous_sequence_timestamps_and_talkspurt_marker() -> None:
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    session = RtpSession(lambda chunk: None, lambda digit: None)
    await session.open("127.0.0.1")
    packets: list[RtpPacket] = []
    try:
        session.set_remote(MediaDescription("127.0.0.1", peer.getsockname()[1], [0], {}))
        for _ in range(3):  # silence first
            packets.append(parse_rtp(await asyncio.wait_for(loop.sock_recv(peer, 2048), 2)))
        session.play(AudioChunk(b"\x00\x10" * 800, 8000))  # 100 ms of audio: 5 packets
        await asyncio.wait_for(session.playback_done(), 2)
        silence = g711.silence_payload(0)
        while sum(p.payload != silence for p in packets) < 5 or packets[-1].payload != silence:
            packets.append(parse_rtp(await asyncio.wait_for(loop.sock_recv(peer, 2048), 2)))
            assert len(packets) < 500
    finally:
        peer.close()
        await session.close()
    first = packets[0]
    assert all(p.ssrc == first.ssrc and p.payload_type == 0 for p in packets)
    assert [(p.sequence - first.sequence) & 0xFFFF for p in packets] == list(range(len(packets)))
    assert [(p.timestamp - first.timestamp) % 2**32 for p in packets] == [
        160 * i for i in range(len(packets))
    ]
    assert sum(p.marker for p in packets) == 1  # only the first packet of the talkspurt
    talk = [p for p in packets if p.payload != g711.silence_payload(0)]
    assert len(talk) == 5 and talk[0].marker and all(len(p.payload) == 160 for p in packets)
