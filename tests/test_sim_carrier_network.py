"""What the simulated network answers: final responses per kind (and their overrides), unknown
and malformed numbers, the 200 OK headers, and how dialled strings become numbers."""

from __future__ import annotations

from typing import Any

import pytest

from robot.carriers.base import Signalling, SipMessageInfo
from robot.carriers.personas import Persona, PersonaKind
from robot.carriers.sim_network import (
    FAILURES,
    answer_headers,
    dialled_number,
    failure_response,
    unknown_number_response,
)
from voicemail.signalling import ANSWERED, classify_signalling


def persona(**fields: Any) -> Persona:
    return Persona.model_validate({"name": "p", "number": "+12025550190"} | fields)


def classify(status: int, headers: dict[str, list[str]]) -> str:
    signalling = Signalling()
    signalling.record(SipMessageInfo(status, None, "", headers))
    return classify_signalling(signalling).outcome


def test_failing_kinds_map_to_their_outcome_through_the_classifier() -> None:
    expected = {
        PersonaKind.BUSY: "busy",
        PersonaKind.NO_ANSWER: "no_answer",
        PersonaKind.INVALID_NUMBER: "invalid_number",
        PersonaKind.UNAVAILABLE: "unavailable",
        PersonaKind.REJECTED: "rejected",
        PersonaKind.NETWORK_ERROR: "network_error",
    }
    for kind, (status, _phrase, cause, _text) in FAILURES.items():
        assert classify(status, {"reason": [f"Q.850;cause={cause}"]}) == expected[kind]
        # the status alone agrees, except 480 which only the cause tells from no answer
        bare_outcome = "no_answer" if kind == PersonaKind.UNAVAILABLE else expected[kind]
        assert classify(status, {}) == bare_outcome


def test_personas_can_override_the_status_and_cause() -> None:
    timeout = persona(kind="no_answer", final_status=408, q850_cause=18)
    assert failure_response(timeout) == (408, "Request Timeout", {"reason": ["Q.850;cause=18"]})
    status, _, headers = failure_response(timeout)
    assert classify(status, headers) == "no_answer"
    everywhere = persona(kind="busy", final_status=600)
    status, phrase, headers = failure_response(everywhere)
    assert (status, phrase) == (600, "Busy Everywhere")
    assert headers["reason"] == ['Q.850;cause=17;text="User busy"']


def test_unknown_and_malformed_numbers() -> None:
    status, _, headers = unknown_number_response("+12025550177")
    assert (status, headers["reason"]) == (404, ['Q.850;cause=1;text="Unallocated number"'])
    assert classify(status, headers) == "invalid_number"
    status, phrase, headers = unknown_number_response("555ABC")
    assert (status, phrase) == (484, "Address Incomplete")
    assert classify(status, headers) == "invalid_number"


def test_answer_headers_divert_only_carrier_mailboxes() -> None:
    mailbox = persona(kind="voicemail", voicemail={"greeting": "Hi.", "diversion": True})
    plain = persona(kind="voicemail", voicemail={"greeting": "Hi."})
    diverted = answer_headers("+12025550190", mailbox)
    assert diverted["diversion"] == ["<sip:+12025550190@sim.callrobot.invalid>;reason=no-answer"]
    assert classify(200, diverted) == "machine"
    assert "diversion" not in answer_headers("+12025550190", plain)
    assert classify(200, answer_headers("+12025550190", plain)) == ANSWERED


@pytest.mark.parametrize(
    ("dialled", "number"),
    [
        ("+12025550101", "+12025550101"),
        (" sip:+12025550101@carrier.example;user=phone ", "+12025550101"),
        ("tel:+1-202-555-0101", "+12025550101"),
        ("SIPS:+12025550101@x", "+12025550101"),
        ("+1 (202) 555-0101", "+12025550101"),
        ("voicemail", "voicemail"),
    ],
)
def test_dialled_strings_become_numbers(dialled: str, number: str) -> None:
    assert dialled_number(dialled) == number


def test_every_failing_kind_has_a_response() -> None:
    failing = {kind for kind in PersonaKind} - {PersonaKind.HUMAN, PersonaKind.VOICEMAIL}
    assert set(FAILURES) == failing
