"""Signalling classifier: every mapping row of DESIGN.md, tolerant parsing, and the CLI."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from robot.carriers.base import CallOutcome, Signalling, SipMessageInfo
from robot.cli import app
from voicemail.signalling import (
    ANSWERED,
    classify_signalling,
    diversion_reasons,
    history_causes,
    parse_reason_headers,
    signalling_from_headers,
)

Q850_ROWS = [
    *[(c, "invalid_number") for c in (1, 2, 3, 22, 26, 28)],
    (17, "busy"),
    *[(c, "no_answer") for c in (18, 19, 31)],
    (20, "unavailable"),
    (21, "rejected"),
    *[(c, "network_error") for c in (27, 34, 38, 41, 42, 47, 102)],
]

STATUS_ROWS = [
    *[(s, "invalid_number") for s in (404, 410, 484, 485, 604)],
    *[(s, "busy") for s in (486, 600)],
    *[(s, "no_answer") for s in (408, 480)],
    *[(s, "rejected") for s in (403, 603)],
    *[(s, "network_error") for s in (500, 502, 503, 504)],
    (487, "cancelled"),
    (200, ANSWERED),
]


def _classify(status: int | None, **headers: list[str]) -> tuple[str, int | None]:
    verdict = classify_signalling(signalling_from_headers(status, **headers))
    return verdict.outcome, verdict.q850


@pytest.mark.parametrize(("cause", "expected"), Q850_ROWS)
def test_q850_cause_maps_and_wins_over_the_status(cause: int, expected: str) -> None:
    # 480 alone would be no_answer, 503 network_error: the Reason cause must win.
    for status in (480, 503, 603):
        assert _classify(status, reason=[f"Q.850;cause={cause}"]) == (expected, cause)


@pytest.mark.parametrize(("status", "expected"), STATUS_ROWS)
def test_status_maps_as_rfc3398_without_reason(status: int, expected: str) -> None:
    assert _classify(status) == (expected, None)


@pytest.mark.parametrize(("status", "expected"), [r for r in STATUS_ROWS if r[0] != 200])
def test_sip_reason_cause_maps_like_a_status(status: int, expected: str) -> None:
    assert _classify(500, reason=[f'SIP;cause={status};text="x"'])[0] == expected


@pytest.mark.parametrize(
    "header",
    [
        "Q.850;cause=17",
        "q.850 ; cause = 17",
        'Q.850;cause="17";text="User busy"',
        'Q.850;text="busy; really, yes";cause=17',
        'SIP;cause=600;text="Busy Everywhere", Q.850;cause=17',
        "  Q850;CAUSE=17  ",
        'Q.850;cause=16;text="Normal", Q.850;cause=17',
    ],
)
def test_reason_parsing_is_tolerant(header: str) -> None:
    assert _classify(480, reason=[header]) == ("busy", 17)


def test_reason_in_separate_headers_and_unmapped_cause_falls_through() -> None:
    assert _classify(603, reason=["garbage", "Q.850;cause=17"]) == ("busy", 17)
    # Cause 16 (normal clearing) maps to nothing: the status decides, the cause is reported.
    assert _classify(486, reason=["Q.850;cause=16"]) == ("busy", 16)
    assert _classify(486, reason=["Q.850;cause=abc"]) == ("busy", None)


def test_quoted_text_with_commas_and_semicolons_is_kept() -> None:
    values = parse_reason_headers(['Q.850;cause=21;text="Call rejected, by user; sorry"'])
    assert values[0].protocol == "Q.850"
    assert values[0].cause == 21
    assert values[0].text == "Call rejected, by user; sorry"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<sip:+15551234567@carrier.example>;reason=no-answer;counter=1", "machine"),
        ('"Bob, Jr" <sip:bob@example.com>;reason="user-busy"', "machine"),
        ("<sip:bob@example.com>; Reason = UNAVAILABLE ;privacy=off", "machine"),
        ("<sip:bob@example.com>;reason=out-of-service", "machine"),
        ("<sip:bob@example.com>;reason=unconditional", ANSWERED),
        ("<sip:bob@example.com>;reason=deflection", ANSWERED),
        ("<sip:a@x>;reason=unconditional, <sip:b@x>;reason=no-answer", "machine"),
        ("<sip:voicemail@example.com>;reason=unknown", "machine"),
        ("not a diversion header at all", ANSWERED),
    ],
)
def test_diversion_on_a_200(header: str, expected: str) -> None:
    assert _classify(200, diversion=[header]) == (expected, None)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<sip:bob@example.com>;index=1, <sip:vms@example.com;cause=486>;index=1.1", "machine"),
        ("<sip:vms@example.com;cause=408>;index=1.1", "machine"),
        ("<sip:vms@example.com;cause=480>;index=1.1", "machine"),
        ("<sip:vms@example.com;cause=487>;index=1.1", "machine"),
        ("<sip:vms@example.com;cause=503>;index=1.1", "machine"),
        ("<sip:vms@example.com;cause=404>;index=1.1", "machine"),
        ("<sip:alice@example.com;cause=302>;index=1.1", ANSWERED),
        ("<sip:bob@example.com?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%22>;index=1", "machine"),
        ("<sip:voicemail@example.com;target=sip:bob%40example.com>;index=1.2", "machine"),
        ("<sip:bob@example.com>;index=1", ANSWERED),
    ],
)
def test_history_info_on_a_200(header: str, expected: str) -> None:
    assert _classify(200, history_info=[header]) == (expected, None)


def test_history_and_diversion_parsers_expose_their_fields() -> None:
    assert diversion_reasons(['<sip:a@x>;reason="No-Answer"']) == [("sip:a@x", "no-answer")]
    assert history_causes(["<sip:v@x;cause=486>;index=1.1"])[0][1] == 486


def test_no_final_status_and_unknown_statuses() -> None:
    assert _classify(None)[0] == "failed"
    assert _classify(501)[0] == "network_error"
    assert _classify(488)[0] == "failed"
    assert _classify(302)[0] == "failed"


def test_hints_from_provisional_responses_and_timings() -> None:
    signalling = Signalling()
    signalling.record(SipMessageInfo(status=183, method=None, at_ms=900, has_sdp=True))
    signalling.record(SipMessageInfo(status=200, method=None, at_ms=1200))
    verdict = classify_signalling(signalling)
    assert verdict.outcome == ANSWERED
    assert not verdict.is_final
    assert "early media before answer" in verdict.hints
    bare = Signalling()
    bare.record(SipMessageInfo(status=200, method=None, at_ms=300))
    assert any("without ringing" in h for h in classify_signalling(bare).hints)


def test_reasons_recorded_from_messages_are_used() -> None:
    signalling = Signalling()
    signalling.record(
        SipMessageInfo(status=503, method=None, headers={"reason": ["Q.850;cause=34"]})
    )
    assert classify_signalling(signalling).outcome == CallOutcome.NETWORK_ERROR


header_text = st.text(
    alphabet=st.sampled_from(list('Q.850SIP;cause=reason"<>,\\ \t0123456789abcxyz-%?&')),
    max_size=80,
) | st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    status=st.one_of(st.none(), st.integers(100, 699)),
    reason=header_text,
    diversion=header_text,
    history=header_text,
)
def test_garbage_headers_never_crash(
    status: int | None, reason: str, diversion: str, history: str
) -> None:
    verdict = classify_signalling(
        signalling_from_headers(
            status, reason=[reason], diversion=[diversion], history_info=[history]
        )
    )
    assert verdict.outcome in {*CallOutcome, ANSWERED}
    assert verdict.q850 is None or 0 <= verdict.q850 <= 999


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "486"], {"outcome": "busy", "q850": None}),
        (["--status", "480", "--reason", "Q.850;cause=20"], {"outcome": "unavailable", "q850": 20}),
        (["--status", "200"], {"outcome": "answered", "q850": None}),
        (
            ["--status", "200", "--diversion", "<sip:b@x>;reason=user-busy"],
            {"outcome": "machine", "q850": None},
        ),
        (
            ["--status", "200", "--history-info", "<sip:v@x;cause=408>;index=1.1"],
            {"outcome": "machine", "q850": None},
        ),
        (
            ["--status", "503", "--reason", "SIP;cause=503", "--reason", "Q.850;cause=1"],
            {"outcome": "invalid_number", "q850": 1},
        ),
    ],
)
def test_classify_cli_json(args: list[str], expected: dict[str, object]) -> None:
    result = runner.invoke(app, ["voicemail", "classify", *args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip())
    assert {k: payload[k] for k in ("outcome", "q850")} == expected


def test_classify_cli_readable_line_and_bad_status() -> None:
    result = runner.invoke(
        app, ["voicemail", "classify", "--status", "486", "--reason", "Q.850;cause=17"]
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("busy (Q.850 cause 17)")
    bad = runner.invoke(app, ["voicemail", "classify", "--status", "42"])
    assert bad.exit_code == 2
    assert "--status" in bad.stderr
