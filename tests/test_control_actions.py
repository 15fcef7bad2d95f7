"""The call-control action vocabulary: valid lists parse, invalid ones name each field."""

from __future__ import annotations

from typing import Any

import pytest

from robot.control.actions import (
    ActionError,
    Conference,
    Dial,
    Gather,
    Hangup,
    Say,
    dump_actions,
    parse_actions,
)

EVERY_ACTION: list[dict[str, Any]] = [
    {"play": {"url": "https://media.example.com/hello.wav", "loop": 2}},
    {"play": {"media_id": "med_123"}},
    {"say": {"text": "Hello", "voice": "amy", "language": "en-GB"}},
    {"pause": {"ms": 500}},
    {
        "gather": {
            "max_digits": 4,
            "timeout_s": 3,
            "finish_on_key": "*",
            "speech": {"hints": ["yes"]},
        }
    },
    {
        "dial": {
            "targets": [
                "+12025550143",
                {"to": "sip:desk@pbx.example.com", "whisper": "Call from the web", "confirm": "1"},
            ],
            "caller_id": "+12025550100",
            "timeout_s": 20,
            "answer_on_bridge": True,
            "time_limit_s": 3600,
            "record": {"channels": 2},
        }
    },
    {"conference": {"name": "room-1", "start_on_enter": False, "end_on_exit": True, "muted": True}},
    {"record": {"max_length_s": 120, "beep": False}},
    {"robot": {"script_id": 7}},
    {"hangup": {}},
]


def test_every_action_parses_and_round_trips() -> None:
    actions = parse_actions(EVERY_ACTION)
    assert [a.kind for a in actions] == [
        "play", "play", "say", "pause", "gather", "dial", "conference", "record", "robot", "hangup"
    ]  # fmt: skip
    dial = actions[5]
    assert isinstance(dial, Dial)
    assert [t.to for t in dial.targets] == ["+12025550143", "sip:desk@pbx.example.com"]
    assert dial.targets[1].is_sip and dial.targets[1].confirm == "1"
    assert dial.record is not None and dial.record.channels == 2
    gather = actions[4]
    assert isinstance(gather, Gather) and gather.speech is not None
    assert gather.speech.hints == ["yes"]
    conference = actions[6]
    assert isinstance(conference, Conference) and conference.name == "room-1"
    assert parse_actions(dump_actions(actions)) == actions


def test_defaults_and_shorthands() -> None:
    say, hangup = parse_actions([{"say": {"text": "Bye"}}, {"hangup": None}])
    assert isinstance(say, Say) and say.voice is None
    assert isinstance(hangup, Hangup)
    assert dump_actions([say, hangup]) == [{"say": {"text": "Bye"}}, {"hangup": {}}]
    (gather,) = parse_actions([{"gather": {}}])
    assert isinstance(gather, Gather)
    assert (gather.max_digits, gather.timeout_s, gather.finish_on_key) == (1, 5.0, "#")


def test_redirect_ends_a_list() -> None:
    (redirect,) = parse_actions([{"redirect": {"url": "https://crm.example.com/next"}}])
    assert redirect.kind == "redirect"


def problems_of(value: Any) -> list[tuple[str, str]]:
    with pytest.raises(ActionError) as caught:
        parse_actions(value)
    return caught.value.problems


@pytest.mark.parametrize(
    ("actions", "path", "message"),
    [
        (
            [{"say": {"text": "hi"}}, {"pause": {"ms": 1}}, {"dial": {"targets": ["12345"]}}],
            "actions[2].dial.targets[0]",
            "not an E.164 number or SIP URI",
        ),
        (
            [{"dial": {"targets": [{"to": "sip:bad uri"}]}}],
            "actions[0].dial.targets[0]",
            "not an E.164 number or SIP URI",
        ),
        ([{"dial": {"targets": []}}], "actions[0].dial.targets", "at least 1"),
        (
            [{"dial": {"targets": ["+12025550143"], "caller_id": "555"}}],
            "actions[0].dial.caller_id",
            "not an E.164 number",
        ),
        (
            [{"dial": {"targets": ["+12025550143"], "record": {"channels": 3}}}],
            "actions[0].dial.record.channels",
            "1 or 2",
        ),
        (
            [{"dial": {"targets": [{"to": "+12025550143", "confirm": "12"}]}}],
            "actions[0].dial.targets[0].confirm",
            "one key",
        ),
        ([{"play": {}}], "actions[0].play", "exactly one of url and media_id"),
        ([{"play": {"url": "ftp://x/y.wav"}}], "actions[0].play.url", "http"),
        ([{"say": {"text": ""}}], "actions[0].say.text", "at least 1"),
        ([{"say": {"txt": "hi"}}], "actions[0].say.txt", "Extra inputs"),
        ([{"pause": {"ms": -5}}], "actions[0].pause.ms", "greater than or equal to 1"),
        ([{"gather": {"finish_on_key": "x"}}], "actions[0].gather.finish_on_key", "one key"),
        ([{"conference": {"name": "a b"}}], "actions[0].conference.name", "pattern"),
        ([{"robot": {"script_id": 0}}], "actions[0].robot.script_id", "greater than"),
        ([{"teleport": {}}], "actions[0]", "unknown action 'teleport'"),
        ([{"say": {"text": "a"}, "hangup": {}}], "actions[0]", "one key"),
        (["hangup"], "actions[0]", "one key"),
        ([{"say": "hello"}], "actions[0].say", "an object"),
        ([{"hangup": {}}, {"say": {"text": "late"}}], "actions[1]", "nothing runs after hangup"),
        ({"say": {"text": "x"}}, "actions", "a list"),
    ],
)
def test_invalid_actions_name_the_field(actions: Any, path: str, message: str) -> None:
    problems = problems_of(actions)
    assert any(p == path and message in m for p, m in problems), problems


def test_every_problem_is_reported_with_its_index() -> None:
    problems = problems_of(
        [{"say": {"text": "ok"}}, {"pause": {}}, {"dial": {"targets": ["+1", "sip:ok@x.example"]}}]
    )
    assert [p for p, _ in problems] == ["actions[1].pause.ms", "actions[2].dial.targets[0]"]
    message = str(ActionError(problems))
    assert "actions[2].dial.targets[0]: not an E.164 number or SIP URI" in message


def test_too_many_actions_are_refused() -> None:
    problems = problems_of([{"pause": {"ms": 1}}] * 101)
    assert problems[0][0] == "actions" and "at most 100" in problems[0][1]
