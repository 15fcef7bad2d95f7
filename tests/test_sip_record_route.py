"""Calls that reach us through a record-routing proxy (Kamailio in front of several workers):
our responses that set up the dialog carry the proxy's Record-Route, and our BYE goes back
through the proxy with the route set, so the whole call passes the proxy."""

from __future__ import annotations

import asyncio
import socket

from robot.carriers.sip import InboundSipCall, SipCarrier, SipMessage, parse_message

SDP = (
    b"v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _invite(proxy_port: int, listen_port: int) -> bytes:
    head = (
        f"INVITE sip:+12025550100@127.0.0.1:{listen_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{proxy_port};branch=z9hG4bKproxy1\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcaller1\r\n"
        f"Record-Route: <sip:127.0.0.1:{proxy_port};lr>\r\n"
        "Record-Route: <sip:edge.example;lr;ftag=c1>\r\n"
        "From: <sip:+12025550170@caller.example>;tag=c1\r\n"
        "To: <sip:+12025550100@service.example>\r\n"
        "Call-ID: rr-test-1\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:+12025550170@127.0.0.1:9>\r\nMax-Forwards: 69\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n"
    )
    return head.encode() + SDP


async def test_answer_keeps_the_proxy_route_and_bye_follows_it() -> None:
    loop = asyncio.get_running_loop()
    hang_up = asyncio.Event()

    async def on_incoming(call: InboundSipCall) -> None:
        await call.answer()
        await hang_up.wait()
        await call.hangup()

    worker = SipCarrier.from_url(
        "sip://127.0.0.1:9;local_host=127.0.0.1;numbers=+12025550100", on_incoming=on_incoming
    )
    await worker.start()
    proxy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    proxy.bind(("127.0.0.1", 0))
    proxy.setblocking(False)
    proxy_port = proxy.getsockname()[1]
    received: list[SipMessage] = []

    async def receive_until(done: str) -> SipMessage:
        async with asyncio.timeout(10):
            while True:
                data, _ = await loop.sock_recvfrom(proxy, 65535)
                message = parse_message(data)
                received.append(message)
                if (message.method or str(message.status)) == done:
                    return message

    try:
        invite = _invite(proxy_port, worker.local_address[1])
        await loop.sock_sendto(proxy, invite, worker.local_address)
        ok = await receive_until("200")
        ack = (
            f"ACK sip:{worker.local_address[0]}:{worker.local_address[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{proxy_port};branch=z9hG4bKproxy2\r\n"
            f"From: <sip:+12025550170@caller.example>;tag=c1\r\nTo: {ok.header('to')}\r\n"
            "Call-ID: rr-test-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n"
        )
        await loop.sock_sendto(proxy, ack.encode(), worker.local_address)
        hang_up.set()
        bye = await receive_until("BYE")
    finally:
        proxy.close()
        await worker.close()

    routes = [f"<sip:127.0.0.1:{proxy_port};lr>", "<sip:edge.example;lr;ftag=c1>"]
    ringing = next(m for m in received if m.status == 180)
    assert ringing.header_values("record-route") == routes
    assert ok.header_values("record-route") == routes  # in the order the proxies put them
    trying = next(m for m in received if m.status == 100)
    assert trying.header_values("record-route") == []  # 100 sets up no dialog
    # The BYE reached the proxy's address (the first route) with the whole route set, and
    # names the caller's Contact as its target.
    assert bye.uri == "sip:+12025550170@127.0.0.1:9"
    assert bye.header_values("route") == routes
