"""Attacks on the SIP parser: header floods and oversized messages are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.carriers.sip.message import SipParseError, StreamFramer, parse_message
from robot.config import Settings, override_settings
from robot.input_limits import InputLimits

HEAD = (
    b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n"
    b"From: <sip:alice@127.0.0.1>;tag=1928301774\r\n"
    b"To: <sip:bob@127.0.0.1>\r\n"
    b"Call-ID: a84b4c76e66710@127.0.0.1\r\n"
    b"CSeq: 314159 INVITE\r\n"
)


def _message(extra_headers: int, body: bytes = b"") -> bytes:
    extra = b"".join(b"X-Filler-%d: x\r\n" % i for i in range(extra_headers))
    return HEAD + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_message_within_the_caps_parses() -> None:
    message = parse_message(_message(100))
    assert message.method == "INVITE" and len(message.headers) == 106


def test_header_flood_is_refused_naming_the_limit() -> None:
    with pytest.raises(SipParseError, match=r"1006 header lines, more than 128") as caught:
        parse_message(_message(1000))
    assert "CALLROBOT_INPUT_LIMITS__SIP_MAX_HEADERS" in str(caught.value)


def test_oversized_message_is_refused_naming_the_limit() -> None:
    with pytest.raises(SipParseError, match="SIP_MAX_MESSAGE_BYTES"):
        parse_message(_message(0, b"v=0\r\n" * 20_000))


def test_caps_come_from_settings(tmp_path: Path) -> None:
    override_settings(Settings(data_dir=tmp_path, input_limits=InputLimits(sip_max_headers=8)))
    with pytest.raises(SipParseError, match="more than 8"):
        parse_message(_message(10))


def test_stream_framer_refuses_a_content_length_past_the_cap() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="exceeds the limit"):
        framer.feed(HEAD + b"Content-Length: 999999999\r\n\r\n")
    # The framer starts clean afterwards: the next good message comes through.
    assert framer.feed(_message(0)) == [_message(0)]
