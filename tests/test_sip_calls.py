"""Whole calls between real peers: our own UAS (inbound seam), blind and bridged transfers."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sipp.peers import (
    BARESIP,
    SIPP,
    baresip_uas,
    dominant_frequency_hz,
    sipp_uas,
    tone,
    wait_listening,
)

from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.sip import InboundSipCall, SipCall, SipCarrier, SipMessage, parse_message
from robot.errors import CarrierError


async def until(call: SipCall, *kinds: str) -> str:
    async with asyncio.timeout(10):
        async for event in call.events():
            if event.kind in kinds:
                return event.kind
    return "ended"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_inbound_call_with_audio_and_dtmf_both_ways(transport: str) -> None:
    answered: asyncio.Queue[InboundSipCall] = asyncio.Queue()
    heard_by_callee: list[AudioChunk] = []
    callee_digits: list[str] = []

    async def on_incoming(call: InboundSipCall) -> None:
        assert call.caller_uri.startswith("sip:+12025550009999@")
        await call.answer()
        answered.put_nowait(call)

    callee = SipCarrier.from_url(
        f"sip://127.0.0.1:5060;transport={transport};local_host=127.0.0.1;numbers=700",
        on_incoming=on_incoming,
    )
    await callee.start()
    port = callee.local_address[1]
    caller = SipCarrier.from_url(
        f"sip://127.0.0.1:{port};transport={transport};local_host=127.0.0.1"
    )
    try:
        refused = await caller.dial("701", ring_timeout_s=5)
        assert await until(refused, "answered", "failed") == "failed"
        assert refused.signalling.final_status == 404  # not one of our numbers

        call = await caller.dial("700", caller_id="+12025550009999", ring_timeout_s=5)
        assert await until(call, "answered", "failed") == "answered"
        inbound = await asyncio.wait_for(answered.get(), 5)
        assert inbound.state is CallState.ANSWERED

        async def callee_side() -> None:
            async for chunk in inbound.audio():
                heard_by_callee.append(chunk)

        async def callee_events() -> None:
            async for event in inbound.events():
                if event.kind == "dtmf" and event.digit:
                    callee_digits.append(event.digit)

        tasks = [asyncio.create_task(callee_side()), asyncio.create_task(callee_events())]
        await call.play(AudioChunk.from_array(tone(700, 1000), 8000))
        await call.playback_done()
        await call.send_dtmf("42*")
        await inbound.send_dtmf("9")
        assert await until(call, "dtmf") == "dtmf"
        await call.hangup()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    finally:
        await caller.close()
        await callee.close()
    assert callee_digits == ["4", "2", "*"]
    assert inbound.signalling.hangup_by == "remote"
    audio = np.concatenate([c.to_array() for c in heard_by_callee])
    assert abs(dominant_frequency_hz(audio) - 700) < 15
    assert caller.pending_tasks() == 0 and callee.pending_tasks() == 0


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
async def test_blind_transfer_by_refer(tmp_path: Path) -> None:
    with sipp_uas("refer_accepted.xml", tmp_path) as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{peer.port};local_host=127.0.0.1")
        call = await carrier.dial("100", ring_timeout_s=5)
        assert await until(call, "answered", "failed") == "answered"
        await asyncio.wait_for(call.transfer("sip:agent-7@pbx.test"), 10)
        assert call.state is CallState.ENDED
        assert peer.wait() == 0, peer.errors()  # REFER target checked, our BYE received
        await carrier.close()
    assert call.signalling.hangup_by == "local"


@pytest.mark.skipif(BARESIP is None, reason="baresip (Debian baresip-core) missing")
async def test_bridged_transfer_relays_audio_between_legs(tmp_path: Path) -> None:
    lead_dir, agent_dir = tmp_path / "lead", tmp_path / "agent"
    lead_dir.mkdir()
    agent_dir.mkdir()
    sf.write(str(lead_dir / "say.wav"), tone(500, 4000), 8000, subtype="PCM_16")
    sf.write(str(agent_dir / "say.wav"), tone(1500, 4000), 8000, subtype="PCM_16")
    with (
        baresip_uas(lead_dir, lead_dir / "say.wav") as lead,
        baresip_uas(agent_dir, agent_dir / "say.wav") as agent,
    ):
        await wait_listening(lead.port)
        await wait_listening(agent.port)
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{lead.port};local_host=127.0.0.1")
        call = await carrier.dial(f"sip:robot-test@127.0.0.1:{lead.port}", ring_timeout_s=5)
        assert await until(call, "answered", "failed") == "answered"
        transfer = asyncio.create_task(
            call.transfer(f"sip:robot-test@127.0.0.1:{agent.port}", bridged=True)
        )
        async with asyncio.timeout(10):
            while len(carrier.active_calls) < 2 or call.rtp.relay_to is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # the two people talk through us
        assert not transfer.done()  # transfer lasts as long as the bridged conversation
        await call.hangup()  # the lead hangs up: both legs end, the transfer returns
        await asyncio.wait_for(transfer, 10)
        assert carrier.active_calls == []
        await carrier.close()
        heard_by_lead = lead.received_audio()
        heard_by_agent = agent.received_audio()
    assert abs(dominant_frequency_hz(heard_by_lead) - 1500) < 20
    assert abs(dominant_frequency_hz(heard_by_agent) - 500) < 20
    assert np.sqrt(np.mean(heard_by_agent.astype(np.float64) ** 2)) > 1000


async def test_retransmitted_rejection_is_acknowledged_again() -> None:
    """A peer that lost our ACK repeats its final response; we ACK it again, even later."""
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    port = peer.getsockname()[1]
    carrier = SipCarrier.from_url(f"sip://127.0.0.1:{port};local_host=127.0.0.1")
    try:
        call = await carrier.dial("600", ring_timeout_s=5)
        data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5)
        invite = parse_message(data)
        busy = SipMessage(status=486, reason_phrase="Busy Here")
        for name in ("via", "from", "call-id", "cseq"):
            busy.add_header(name, invite.header(name) or "")
        busy.add_header("to", f"{invite.header('to')};tag=peer1")
        acks = []
        for _ in range(2):  # the second copy arrives after the call has already ended
            await loop.sock_sendto(peer, busy.to_bytes(), source)
            while True:
                message = parse_message(
                    (await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5))[0]
                )
                if message.method == "ACK":
                    acks.append(message)
                    break
            await call.wait_ended(5)
    finally:
        await carrier.close()
        peer.close()
    assert len(acks) == 2
    assert {a.top_via_branch for a in acks} == {invite.top_via_branch}  # same transaction
    assert acks[1].to_tag == "peer1" and call.signalling.final_status == 486


async def test_options_answered_and_garbage_survived() -> None:
    loop = asyncio.get_running_loop()
    carrier = SipCarrier.from_url("sip://127.0.0.1:5060;local_host=127.0.0.1")
    await carrier.start()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    options = (
        b"OPTIONS sip:robot@127.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKopt1\r\n"
        b"f: <sip:monitor@127.0.0.1>;tag=m1\r\nt: <sip:robot@127.0.0.1>\r\n"
        b"i: keepalive-1\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n"
    )
    try:
        for garbage in (b"\x00\xff" * 50, b"SIP/2.0 200 OK\r\n\r\n", b"\r\n\r\n"):
            await loop.sock_sendto(peer, garbage, carrier.local_address)
        await loop.sock_sendto(peer, options, carrier.local_address)
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5)
        dropped = carrier.dropped_messages
    finally:
        peer.close()
        await carrier.close()
    response = parse_message(data)
    assert response.status == 200 and response.cseq == (7, "OPTIONS")
    assert "INVITE" in (response.header("allow") or "") and response.to_tag
    assert dropped == 2  # the two malformed datagrams; the CRLF keep-alive is not an error


def _response_to(
    request: SipMessage, status: int, phrase: str, body: bytes = b"", contact_port: int = 9
) -> bytes:
    response = SipMessage(status=status, reason_phrase=phrase)
    for name in ("via", "from", "call-id", "cseq"):
        response.add_header(name, request.header(name) or "")
    response.add_header("to", f"{request.header('to')};tag=peer2")
    response.add_header("contact", f"<sip:peer@127.0.0.1:{contact_port}>")
    if body:
        response.add_header("content-type", "application/sdp")
        response.body = body
    return response.to_bytes()


@pytest.mark.parametrize("sdp", [True, False])
async def test_answer_crossing_our_cancel_is_acked_and_byed(sdp: bool) -> None:
    """The 200 arrives after we sent CANCEL (or carries no SDP): ACK it, then BYE at once."""
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    port = peer.getsockname()[1]
    carrier = SipCarrier.from_url(f"sip://127.0.0.1:{port};local_host=127.0.0.1")
    answer = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 9 RTP/AVP 0\r\n" if sdp else b""

    async def receive(method: str) -> tuple[SipMessage, tuple[str, int]]:
        while True:
            data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5)
            message = parse_message(data)
            if message.method == method:
                return message, source

    try:
        call = await carrier.dial("601", ring_timeout_s=5)
        invite, source = await receive("INVITE")
        await loop.sock_sendto(peer, _response_to(invite, 180, "Ringing"), source)
        if sdp:
            assert await until(call, "ringing") == "ringing"
            hangup = asyncio.create_task(call.hangup())
            cancel, _ = await receive("CANCEL")
            assert cancel.top_via_branch == invite.top_via_branch
        await loop.sock_sendto(peer, _response_to(invite, 200, "OK", answer, port), source)
        ack, _ = await receive("ACK")
        bye, _ = await receive("BYE")
        await loop.sock_sendto(peer, _response_to(bye, 200, "OK"), source)
        if sdp:
            await asyncio.wait_for(hangup, 5)
        await call.wait_ended(5)
    finally:
        await carrier.close()
        peer.close()
    assert ack.top_via_branch != invite.top_via_branch  # the ACK of a 2xx is a new transaction
    # in-dialog requests go to the Contact of the 200, with the dialog's tags
    assert bye.to_tag == "peer2" and bye.uri == f"sip:peer@127.0.0.1:{port}"
    assert call.state is CallState.ENDED


async def test_caller_cancels_a_ringing_inbound_call() -> None:
    ringing: asyncio.Queue[InboundSipCall] = asyncio.Queue()

    async def on_incoming(call: InboundSipCall) -> None:
        ringing.put_nowait(call)  # the application is slow to decide

    callee = SipCarrier.from_url(
        "sip://127.0.0.1:5060;local_host=127.0.0.1", on_incoming=on_incoming
    )
    await callee.start()
    caller = SipCarrier.from_url(f"sip://127.0.0.1:{callee.local_address[1]};local_host=127.0.0.1")
    try:
        call = await caller.dial("800", ring_timeout_s=5)
        assert await until(call, "ringing") == "ringing"
        inbound = await asyncio.wait_for(ringing.get(), 5)
        await call.hangup()
        kinds = [e.kind async for e in inbound.events()]
        with pytest.raises(CarrierError, match="ringing"):
            await inbound.answer()
    finally:
        await caller.close()
        await callee.close()
    assert call.signalling.final_status == 487
    assert kinds == ["ringing", "hangup"]
    assert [m.method for m in inbound.signalling.messages] == ["INVITE", "CANCEL"]


async def test_proxy_challenge_407_is_answered_with_proxy_authorization() -> None:
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    port = peer.getsockname()[1]
    carrier = SipCarrier.from_url(f"sip://bob:pa55@127.0.0.1:{port};local_host=127.0.0.1")

    async def receive_invite() -> tuple[SipMessage, tuple[str, int]]:
        while True:
            data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5)
            message = parse_message(data)
            if message.method == "INVITE" and message.cseq[0] != seen_cseq:
                return message, source

    seen_cseq = -1
    try:
        call = await carrier.dial("602", ring_timeout_s=5)
        first, source = await receive_invite()
        seen_cseq = first.cseq[0]
        challenge = SipMessage(status=407, reason_phrase="Proxy Authentication Required")
        for name in ("via", "from", "call-id", "cseq"):
            challenge.add_header(name, first.header(name) or "")
        challenge.add_header("to", f"{first.header('to')};tag=px")
        challenge.add_header(
            "proxy-authenticate", 'Digest realm="proxy.test", nonce="n0nce", algorithm=MD5'
        )
        await loop.sock_sendto(peer, challenge.to_bytes(), source)
        second, _ = await receive_invite()
        await loop.sock_sendto(peer, _response_to(second, 603, "Decline"), source)
        await call.wait_ended(5)
    finally:
        await carrier.close()
        peer.close()
    assert second.call_id == first.call_id and second.cseq[0] == first.cseq[0] + 1
    assert second.from_tag == first.from_tag
    assert second.header("authorization") is None
    answer = second.header("proxy-authorization") or ""
    ha1 = hashlib.md5(b"bob:proxy.test:pa55").hexdigest()
    ha2 = hashlib.md5(f"INVITE:{second.uri}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n0nce:{ha2}".encode()).hexdigest()
    assert f'response="{expected}"' in answer and 'username="bob"' in answer
    assert [m.status for m in call.signalling.messages] == [407, 603]


async def test_unresolvable_trunk_is_a_clear_error() -> None:
    carrier = SipCarrier.from_url("sip://no-such-trunk.invalid:5060;local_host=127.0.0.1")
    with pytest.raises(CarrierError, match=r"cannot resolve SIP host 'no-such-trunk\.invalid'"):
        await carrier.dial("700")
    await carrier.close()
    assert carrier.pending_tasks() == 0


async def test_local_address_defaults_to_the_route_towards_the_trunk() -> None:
    carrier = SipCarrier.from_url("sip://127.0.0.1:5099")
    await carrier.start()
    try:
        assert carrier.local_address[0] == "127.0.0.1"  # the loopback route to the trunk
    finally:
        await carrier.close()


async def test_repeated_provisional_responses_are_recorded_once() -> None:
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    port = peer.getsockname()[1]
    carrier = SipCarrier.from_url(f"sip://127.0.0.1:{port};local_host=127.0.0.1")
    try:
        call = await carrier.dial("603", ring_timeout_s=5)
        data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 65535), 5)
        invite = parse_message(data)
        for _ in range(3):  # as a UAS does for each retransmission of the INVITE
            await loop.sock_sendto(peer, _response_to(invite, 180, "Ringing"), source)
        await loop.sock_sendto(peer, _response_to(invite, 486, "Busy Here"), source)
        await call.wait_ended(5)
    finally:
        await carrier.close()
        peer.close()
    assert call.signalling.provisional == [180]
    assert [m.status for m in call.signalling.messages] == [180, 486]
