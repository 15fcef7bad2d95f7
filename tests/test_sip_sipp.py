"""The SIP carrier against SIPp scenarios on 127.0.0.1: signalling facts and clean endings."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest
from sipp.peers import (
    SIPP,
    SippPeer,
    dominant_frequency_hz,
    port_is_free,
    sipp_uas,
    tone,
    wait_listening,
    write_ulaw_wav,
)

from robot.audio import AudioChunk
from robot.carriers.base import Call, CallEvent, CallState, Carrier
from robot.carriers.sip import SipCall, SipCarrier

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")


def carrier_for(peer: SippPeer, transport: str = "udp", user: str = "") -> SipCarrier:
    auth = f"{user}@" if user else ""
    return SipCarrier.from_url(
        f"sip://{auth}127.0.0.1:{peer.port};transport={transport};local_host=127.0.0.1"
    )


async def collect(call: SipCall) -> tuple[list[CallEvent], list[AudioChunk]]:
    """Drain events and audio until the call ends (bounded in time)."""
    events: list[CallEvent] = []
    frames: list[AudioChunk] = []

    async def read_audio() -> None:
        async for chunk in call.audio():
            frames.append(chunk)

    reader = asyncio.create_task(read_audio())
    async with asyncio.timeout(20):
        async for event in call.events():
            events.append(event)
        await reader
    return events, frames


async def assert_clean(carrier: SipCarrier, call: SipCall) -> None:
    """Nothing of the call survives it: tasks, transactions, RTP socket and port."""
    rtp_port = call.rtp.local_port
    sip_port = carrier.local_address[1]
    for _ in range(50):  # let done-callbacks of finished steps run
        if carrier.pending_tasks() == 0:
            break
        await asyncio.sleep(0.01)
    assert call.state is CallState.ENDED
    assert carrier.pending_tasks() == 0
    assert not call.rtp.is_open
    assert port_is_free(rtp_port)
    await carrier.close()
    assert port_is_free(sip_port)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


def assert_peer_passed(peer: SippPeer) -> None:
    assert peer.wait() == 0, peer.errors()


async def dial(peer: SippPeer, **kwargs: object) -> tuple[SipCarrier, SipCall]:
    await wait_listening(peer.port)
    carrier = carrier_for(peer, **kwargs)  # type: ignore[arg-type]
    call = await carrier.dial("+15551230001", ring_timeout_s=10)
    return carrier, call


async def test_busy_486_with_q850_reason(tmp_path: Path) -> None:
    with sipp_uas("busy_486_q850.xml", tmp_path) as peer:
        carrier, call = await dial(peer)
        assert isinstance(carrier, Carrier)
        assert isinstance(call, Call)
        events, frames = await collect(call)
        assert_peer_passed(peer)
    s = call.signalling
    assert s.final_status == 486
    assert s.final_reason_phrase == "Busy Here"
    assert s.reason == ['Q.850;cause=17;text="User busy"']
    assert s.provisional == [180]
    assert s.ringing_ms is not None and s.answer_ms is None
    assert [e.kind for e in events] == ["ringing", "failed"]
    assert frames == []
    await assert_clean(carrier, call)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [(480, "Temporarily Unavailable"), (404, "Not Found"), (603, "Decline")],
)
async def test_final_rejections(tmp_path: Path, status: int, phrase: str) -> None:
    with sipp_uas(f"reject_{status}.xml", tmp_path) as peer:
        carrier, call = await dial(peer)
        events, _ = await collect(call)
        assert_peer_passed(peer)  # the scenario also checks our ACK arrived
    assert call.signalling.final_status == status
    assert call.signalling.final_reason_phrase == phrase
    assert call.signalling.reason == []
    assert events[-1].kind == "failed"
    await assert_clean(carrier, call)


async def test_early_media_then_480(tmp_path: Path) -> None:
    write_ulaw_wav(tmp_path / "announcement.wav", tone(1000, 1000))
    with sipp_uas("early_media_480.xml", tmp_path) as peer:
        carrier, call = await dial(peer)
        events, frames = await collect(call)
        assert_peer_passed(peer)
    s = call.signalling
    assert s.provisional == [183]
    assert s.early_media is True
    assert s.final_status == 480
    assert s.reason == ["Q.850;cause=20"]
    assert [e.kind for e in events] == ["early_media", "failed"]
    # the announcement arrived as 20 ms frames of 8 kHz audio carrying the 1 kHz tone
    assert all(f.rate == 8000 and f.samples == 160 for f in frames)
    audio = np.concatenate([f.to_array() for f in frames])
    # one second of tone, then silence frames until the 480 (sent 1.5 s after the 183)
    assert 1000 <= len(frames) * 20 <= 3000
    loud = audio[np.abs(audio) > 1000]
    assert len(loud) > 4000
    assert abs(dominant_frequency_hz(audio) - 1000) < 20
    await assert_clean(carrier, call)


async def test_diversion_on_200_is_reported(tmp_path: Path) -> None:
    with sipp_uas("diversion_200.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(
            f"sip://127.0.0.1:{peer.port};local_host=127.0.0.1;display=Acme%20Sales"
        )
        # SIPp checks the caller ID in From (display name and user) and P-Asserted-Identity
        call = await carrier.dial(
            "+15551230001",
            caller_id="+12025550007777",
            ring_timeout_s=10,
            variables={"sip_header_X-Campaign": "spring-2026", "first_name": "Ann"},
        )
        events: list[str] = []
        async for event in call.events():
            events.append(event.kind)
            if event.kind == "answered":
                break
        assert call.state is CallState.ANSWERED
        await call.hangup()
        assert_peer_passed(peer)  # saw our ACK and our BYE
    s = call.signalling
    assert s.final_status == 200 and s.answer_ms is not None
    assert s.diversion == ["<sip:+12025550001111@carrier.test>;reason=no-answer;counter=1"]
    assert len(s.history_info) == 2 and "cause%3D408" in s.history_info[1]
    assert s.hangup_by == "local"
    assert events == ["ringing", "answered"]
    await assert_clean(carrier, call)


@pytest.mark.parametrize("password", ["s3cret", "wrong"])
async def test_digest_challenge_401(tmp_path: Path, password: str) -> None:
    with sipp_uas("auth_401.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = carrier_for(peer, user=f"alice:{password}")
        call = await carrier.dial("2000", ring_timeout_s=10)
        async for event in call.events():
            if event.kind in ("answered", "failed"):
                break
        if call.state is CallState.ANSWERED:
            await call.hangup()
        await call.wait_ended(5)
        peer.wait()
    statuses = [m.status for m in call.signalling.messages]
    if password == "s3cret":  # SIPp verified our digest answer
        assert statuses == [401, 200]
        assert call.signalling.hangup_by == "local"
    else:
        assert statuses == [401, 403]
    await assert_clean(carrier, call)


async def test_far_end_bye_mid_prompt_and_hold(tmp_path: Path) -> None:
    write_ulaw_wav(tmp_path / "announcement.wav", tone(600, 1000))
    with sipp_uas("bye_from_peer.xml", tmp_path) as peer:
        carrier, call = await dial(peer)
        async for event in call.events():
            if event.kind == "answered":
                break
        assert call.rtp.payload_type == 0
        await call.play(AudioChunk.from_array(tone(440, 10_000), 8000))  # a long prompt
        async with asyncio.timeout(10):
            await call.playback_done()  # returns when the peer hangs up, not after 10 s
        rest = [e async for e in call.events()]
        assert_peer_passed(peer)  # our 200 to its re-INVITE and BYE arrived
    s = call.signalling
    assert rest[-1].kind == "hangup" and rest[-1].by == "remote"
    assert call.rtp.sending_paused  # the peer's sendonly re-INVITE put us on hold
    assert s.hangup_by == "remote" and s.final_status == 200
    bye = [m for m in s.messages if m.method == "BYE"]
    assert len(bye) == 1 and bye[0].header("reason") == [
        'Q.850;cause=16;text="Normal call clearing"'
    ]
    assert s.reason == ['Q.850;cause=16;text="Normal call clearing"']
    await assert_clean(carrier, call)


async def test_malformed_response_is_dropped(tmp_path: Path) -> None:
    with sipp_uas("malformed_then_503.xml", tmp_path) as peer:
        carrier, call = await dial(peer)
        events, _ = await collect(call)
        assert_peer_passed(peer)
    assert call.signalling.final_status == 503
    assert call.signalling.provisional == []  # both broken responses were dropped
    assert call.signalling.reason == ['Q.850 ; cause = 38 ; text="Network out of order"']
    assert events[-1].kind == "failed"
    await assert_clean(carrier, call)


async def test_tcp_transport_to_a_named_host(tmp_path: Path) -> None:
    with sipp_uas("busy_486_q850.xml", tmp_path, transport="t1") as peer:
        await asyncio.sleep(0.3)
        carrier = SipCarrier.from_url(  # "localhost" is resolved once, off the event loop
            f"sip://localhost:{peer.port};transport=tcp;local_host=127.0.0.1"
        )
        call = await carrier.dial("3000", ring_timeout_s=10)
        await collect(call)
        assert_peer_passed(peer)
    assert call.signalling.final_status == 486
    assert call.signalling.reason == ['Q.850;cause=17;text="User busy"']
    await assert_clean(carrier, call)


async def test_ring_timeout_sends_cancel(tmp_path: Path) -> None:
    with sipp_uas("ring_forever.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = carrier_for(peer)
        call = await carrier.dial("4000", ring_timeout_s=1.0)
        events, _ = await collect(call)
        assert_peer_passed(peer)  # it received our CANCEL and the ACK of its 487
    assert call.signalling.provisional == [180]
    assert call.signalling.final_status == 487
    assert [e.kind for e in events] == ["ringing", "failed"]
    await assert_clean(carrier, call)


async def test_unreachable_peer_times_out_cleanly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # a peer that never answers
        port = silent.getsockname()[1]
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{port};local_host=127.0.0.1")
        call = await carrier.dial("5000", ring_timeout_s=0.6)
        async with asyncio.timeout(15):
            events = [e async for e in call.events()]
        received = silent.recv(65535)
    assert events[-1].kind == "failed"
    assert call.signalling.final_status is None
    assert received.startswith(b"INVITE sip:5000@127.0.0.1")
    await assert_clean(carrier, call)


async def test_outbound_proxy_gets_requests_for_the_trunk_domain(tmp_path: Path) -> None:
    with sipp_uas("busy_486_q850.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(
            f"sip://trunk.invalid:5060;proxy=127.0.0.1:{peer.port};local_host=127.0.0.1"
        )
        call = await carrier.dial("+15551230001", ring_timeout_s=10)
        await collect(call)
        assert_peer_passed(peer)
    assert call.signalling.final_status == 486
    await assert_clean(carrier, call)


async def test_registration_with_digest_refresh_and_unregister(tmp_path: Path) -> None:
    with sipp_uas("register_401.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(
            f"sip://alice:s3cret@127.0.0.1:{peer.port};register=yes;expires=60;local_host=127.0.0.1"
        )
        await carrier.start()
        await asyncio.wait_for(carrier.registered.wait(), 10)
        async with asyncio.timeout(15):  # the registrar granted 6 s: we refresh before that
            while carrier.registrations < 2:
                await asyncio.sleep(0.1)
        await carrier.close()  # sends REGISTER with Expires: 0
        assert_peer_passed(peer)  # the digest answer was verified; the unregister arrived
    assert carrier.pending_tasks() == 0


async def test_closing_the_carrier_cancels_a_ringing_call(tmp_path: Path) -> None:
    with sipp_uas("ring_forever.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = carrier_for(peer)
        call = await carrier.dial("4001", ring_timeout_s=30)
        async for event in call.events():
            if event.kind == "ringing":
                break
        rtp_port = call.rtp.local_port
        await asyncio.wait_for(carrier.close(), 10)
        assert_peer_passed(peer)  # CANCEL sent, 487 acknowledged
    assert call.state is CallState.ENDED and call.signalling.final_status == 487
    assert carrier.pending_tasks() == 0 and port_is_free(rtp_port)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
