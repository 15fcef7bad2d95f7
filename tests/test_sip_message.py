"""SIP message parsing and serialization, SDP, digest auth and carrier URLs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.carriers.sip.config import SipCarrierConfig
from robot.carriers.sip.digest import DigestError, digest_response, parse_challenge
from robot.carriers.sip.message import (
    SipMessage,
    SipParseError,
    StreamFramer,
    parse_message,
    split_list_value,
)
from robot.carriers.sip.sdp import SdpError, build_sdp, parse_sdp
from robot.errors import CallrobotError, ConfigError

COMPACT_INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds ;rport\r\n"
    b"v: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKa, "
    b"SIP/2.0/UDP gw.example.com;branch=z9hG4bKb\r\n"
    b"Max-Forwards: 70\r\n"
    b"t: Bob <sip:bob@biloxi.example.com>\r\n"
    b'f: "Alice, A." <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"m: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Subject: a folded\r\n"
    b"  header value\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nextra bytes beyond Content-Length"
)

RESPONSE_486 = (
    b"SIP/2.0 486 Busy Here\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport=5060\r\n"
    b"From: <sip:robot@example.com>;tag=aa\r\n"
    b"To: <sip:+15551230001@example.com>;tag=bb\r\n"
    b"Call-ID: c1@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b'Reason: Q.850;cause=17;text="User busy", SIP;cause=486\r\n'
    b"Content-Length: 0\r\n\r\n"
)


def test_compact_forms_folding_and_lists_parse() -> None:
    message = parse_message(COMPACT_INVITE)
    assert message.method == "INVITE" and message.uri == "sip:bob@biloxi.example.com"
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert message.cseq == (314159, "INVITE")
    assert message.from_tag == "1928301774"
    assert message.top_via_branch == "z9hG4bK776asdhds"
    assert len(message.header_values("via")) == 3
    assert message.header("contact") == "<sip:alice@pc33.atlanta.example.com>"
    assert message.header("subject") == "a folded header value"
    assert message.body == b"v=0\r"  # cut at Content-Length


def test_response_parses_and_lists_split() -> None:
    message = parse_message(RESPONSE_486)
    assert message.status == 486 and message.reason_phrase == "Busy Here"
    assert message.to_tag == "bb"
    assert message.header_values("reason") == ['Q.850;cause=17;text="User busy"', "SIP;cause=486"]
    assert split_list_value('<sip:a,b@x>;p="1,2", <sip:c@y>') == [
        '<sip:a,b@x>;p="1,2"',
        "<sip:c@y>",
    ]


def test_serialize_round_trip_sets_content_length() -> None:
    message = parse_message(RESPONSE_486)
    message.body = b"hello"
    wire = message.to_bytes()
    assert b"Content-Length: 5\r\n" in wire and b"Call-ID: c1@127.0.0.1" in wire
    again = parse_message(wire)
    assert again.body == b"hello" and again.headers[:6] == message.headers[:6]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "blank line"),
        (b"HELLO\r\n\r\n", "start line"),
        (b"SIP/2.0 99 Too Low\r\n\r\n", "start line"),
        (RESPONSE_486.replace(b"Call-ID: c1@127.0.0.1\r\n", b""), "Call-ID"),
        (RESPONSE_486.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), "CSeq"),
        (RESPONSE_486.replace(b"From:", b"From"), "line 3"),
        (RESPONSE_486.replace(b"Content-Length: 0", b"Content-Length: 40"), "Content-Length"),
        (RESPONSE_486.replace(b"Busy", b"\xff\xfe"), "UTF-8"),
    ],
)
def test_malformed_messages_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse_message(data)


def test_stream_framer_cuts_messages_by_content_length() -> None:
    framer = StreamFramer()
    with_body = RESPONSE_486.replace(b"Content-Length: 0", b"Content-Length: 3") + b"abc"
    stream = b"\r\n\r\n" + with_body + RESPONSE_486
    out: list[bytes] = []
    for i in range(0, len(stream), 7):  # arrive in small pieces
        out += framer.feed(stream[i : i + 7])
    assert [parse_message(m).body for m in out] == [b"abc", b""]


def test_sdp_offer_and_answer() -> None:
    offer = build_sdp("127.0.0.1", 40000, 7, 1)
    media = parse_sdp(offer)
    assert (media.address, media.port, media.payload_types) == ("127.0.0.1", 40000, [0, 8, 101])
    assert media.audio_codec() == 0 and media.dtmf_payload_type() == 101
    answer = (
        b"v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 5004 RTP/AVP 8 96\r\n"
        b"a=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n"
    )
    media = parse_sdp(answer)
    assert media.audio_codec() == 8 and media.dtmf_payload_type() == 96
    assert media.on_hold and media.address == "10.0.0.9"
    with pytest.raises(SdpError, match="no audio"):
        parse_sdp(b"v=0\r\nc=IN IP4 1.2.3.4\r\n")
    with pytest.raises(SdpError, match="line 2"):
        parse_sdp(b"v=0\r\nm=audio x RTP/AVP 0\r\n")


def test_digest_matches_rfc2617_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = digest_response(
        challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", cnonce="0a4f113b"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "nc=00000001" in value and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value
    with pytest.raises(DigestError, match="scheme"):
        parse_challenge('Basic realm="x"')
    with pytest.raises(DigestError, match="algorithm"):
        parse_challenge('Digest realm="x", nonce="1", algorithm=SHA-999')


def test_carrier_url() -> None:
    config = SipCarrierConfig.from_url(
        "sip://alice:p%40ss@trunk.example:5080;transport=tcp;proxy=10.0.0.1:5070;register=yes;"
        "caller_id=+12025550001;display=Robot;numbers=100,200"
    )
    assert (config.host, config.port, config.transport) == ("trunk.example", 5080, "tcp")
    assert (config.username, config.password) == ("alice", "p@ss")
    assert config.outbound_proxy == ("10.0.0.1", 5070) and config.register
    assert config.inbound_numbers == ("100", "200")
    assert "p@ss" not in repr(config)
    with pytest.raises(ConfigError, match="transport 'sctp'"):
        SipCarrierConfig.from_url("sip://h;transport=sctp")
    with pytest.raises(ConfigError, match="'colour' is unknown"):
        SipCarrierConfig.from_url("sip://h;colour=blue")
    with pytest.raises(ConfigError, match="sip://"):
        SipCarrierConfig.from_url("http://h")


def test_carrier_url_listen_address() -> None:
    config = SipCarrierConfig.from_url("sip://trunk.example;local_port=7000;listen=0.0.0.0:5080")
    assert config.listen == ("0.0.0.0", 5080) and config.local_port == 7000
    listening = config.for_listening()
    assert (listening.local_host, listening.local_port) == ("0.0.0.0", 5080)
    assert (listening.host, listening.port) == ("trunk.example", 5060)
    with pytest.raises(ConfigError, match="no listen="):
        SipCarrierConfig.from_url("sip://trunk.example").for_listening()
    with pytest.raises(ConfigError, match="listen"):
        SipCarrierConfig.from_url("sip://trunk.example;listen=:5080")


VALID = [COMPACT_INVITE, RESPONSE_486]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 3), st.binary(max_size=8)), max_size=6),
)
def test_fuzz_mutated_messages_raise_only_parse_errors(
    base: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    data = bytearray(base)
    for position, delete, insert in edits:
        position %= len(data) + 1
        data[position : position + delete] = insert
    try:
        message = parse_message(bytes(data))
    except SipParseError:
        return
    # whatever parses must serialize and parse back to the same headers
    again = parse_message(message.to_bytes())
    assert again.call_id == message.call_id and again.cseq == message.cseq


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_fuzz_stream_framer_and_sdp(chunks: list[bytes]) -> None:
    framer = StreamFramer()
    for chunk in chunks:
        try:
            for raw in framer.feed(chunk):
                with contextlib.suppress(SipParseError):
                    parse_message(raw)
        except SipParseError:
            pass
        with contextlib.suppress(CallrobotError):
            parse_sdp(chunk)


def test_sip_message_header_editing() -> None:
    message = SipMessage(method="OPTIONS", uri="sip:x@y")
    message.add_header("Via", "a")
    message.set_header("via", "b")
    assert message.header_values("via") == ["b"]


def test_only_sip_header_variables_become_invite_headers() -> None:
    from robot.carriers.sip.carrier import _header_variables
    from robot.errors import CarrierError

    variables = {"first_name": "Ann", "sip_header_X-Campaign": "spring", "phone": "+1555"}
    assert _header_variables(variables) == [("x-campaign", "spring")]
    with pytest.raises(CarrierError, match="sip_header_X:Bad"):
        _header_variables({"sip_header_X:Bad": "1"})
    with pytest.raises(CarrierError, match="not a valid SIP header"):
        _header_variables({"sip_header_X-Ok": "a\r\nInjected: 1"})


def test_granted_registration_time() -> None:
    from robot.carriers.sip.carrier import _granted_expiry

    response = parse_message(RESPONSE_486.replace(b"SIP/2.0 486 Busy Here", b"SIP/2.0 200 OK"))
    assert _granted_expiry(response, 600) == 600
    response.add_header("expires", "120")
    assert _granted_expiry(response, 600) == 120
    response.add_header("contact", "<sip:robot@10.0.0.1:5060>;expires=90")
    assert _granted_expiry(response, 600) == 90
