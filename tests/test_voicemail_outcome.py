"""Merging signalling, early-media and audio evidence into one call outcome."""

from __future__ import annotations

import pytest

from robot.carriers.base import CallOutcome
from voicemail.detector import Verdict
from voicemail.early_media import Announcement
from voicemail.outcome import combine_outcome
from voicemail.signalling import (
    SignallingVerdict,
    classify_signalling,
    signalling_from_headers,
)


def verdict_for(status: int, **headers: list[str]) -> SignallingVerdict:
    return classify_signalling(signalling_from_headers(status, **headers))


def test_final_signalling_wins_over_everything() -> None:
    busy = verdict_for(486, reason=["Q.850;cause=17"])
    result = combine_outcome(busy, Verdict("human", 900, "x"), Announcement(100, "SIT tone"))
    assert (result.outcome, result.source, result.q850) == (CallOutcome.BUSY, "signalling", 17)


def test_carrier_voicemail_by_diversion_is_a_machine_without_audio() -> None:
    diverted = verdict_for(200, diversion=["<sip:a@b>;reason=no-answer"])
    assert combine_outcome(diverted).outcome == CallOutcome.MACHINE


def test_early_media_announcement_overrides_a_plain_answer() -> None:
    answered = verdict_for(200)
    sit = Announcement(800, "SIT tone (vacant code)", CallOutcome.INVALID_NUMBER)
    result = combine_outcome(answered, Verdict("human", 900, "x"), sit)
    assert (result.outcome, result.source) == (CallOutcome.INVALID_NUMBER, "early_media")
    unnamed = combine_outcome(answered, None, Announcement(800, 'phrase "please hang up"'))
    assert unnamed.outcome == CallOutcome.MACHINE


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ("machine", CallOutcome.MACHINE),
        ("human", CallOutcome.HUMAN),
        ("unknown", CallOutcome.HUMAN),
    ],
)
def test_audio_verdict_decides_a_plain_answer(verdict: str, expected: CallOutcome) -> None:
    result = combine_outcome(verdict_for(200), Verdict(verdict, 1800.0, "greeting 0.5 s"))  # type: ignore[arg-type]
    assert result.outcome == expected
    assert result.decision_ms == 1800.0
    assert result.reason == f"{verdict}: greeting 0.5 s"
