"""The one action vocabulary that drives a call: from a routing answer, the API or a script.

A list of actions is JSON: each action is an object with exactly one key, the action's name,
whose value holds its fields (``{"say": {"text": "Hello"}}``; ``{"hangup": {}}``). The list
runs in order; ``hangup`` and ``redirect`` end it, so nothing may follow them.

:func:`parse_actions` reads such a list and raises :class:`ActionError` naming every
problem's place (``actions[2].dial.targets[0]: not an E.164 number or SIP URI``);
:func:`dump_actions` writes a parsed list back to the same JSON (stored, then read again).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from robot.errors import ValidationError
from robot.phone import is_e164, is_sip_uri

__all__ = [
    "ACTIONS",
    "Action",
    "ActionError",
    "Conference",
    "Dial",
    "DialRecording",
    "DialTarget",
    "Gather",
    "GatherSpeech",
    "Hangup",
    "Pause",
    "Play",
    "Record",
    "Redirect",
    "RobotScript",
    "Say",
    "dump_actions",
    "parse_actions",
]

#: Most actions in one list (a routing answer, a number's default actions).
MAX_ACTIONS = 100
#: Keys a caller may press (DTMF).
_KEYS = "0123456789*#"

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]


class ActionError(ValidationError):
    """An action list is invalid; ``problems`` holds each ``(path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")
    return url


def _check_key(key: str | None) -> str | None:
    if key is not None and (len(key) != 1 or key not in _KEYS):
        raise ValueError(f"must be one key of {_KEYS!r}")
    return key


class Action(BaseModel):
    """Base of every action; ``kind`` is its key in JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]
    #: Whether the list ends with this action (nothing after it would run).
    ends_list: ClassVar[bool] = False


class Play(Action):
    """Play an audio file: a URL or the id of uploaded media (exactly one)."""

    kind: ClassVar[str] = "play"
    url: Url | None = None
    media_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    #: Times to play it (1 to 100).
    loop: int = Field(1, ge=1, le=100)

    _url = field_validator("url")(lambda v: v if v is None else _check_url(v))

    @model_validator(mode="after")
    def _one_source(self) -> Play:
        if (self.url is None) == (self.media_id is None):
            raise ValueError("give exactly one of url and media_id")
        return self


class Say(Action):
    """Speak text with the text-to-speech engine."""

    kind: ClassVar[str] = "say"
    text: Text
    #: A voice name of the TTS engine; the engine's default when not given.
    voice: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    #: BCP 47 language tag (``en-US``); the script's or the number's language when not given.
    language: Annotated[str, Field(min_length=2, max_length=35)] | None = None


class Pause(Action):
    """Silence for ``ms`` milliseconds."""

    kind: ClassVar[str] = "pause"
    ms: int = Field(ge=1, le=600_000)


class GatherSpeech(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    language: Annotated[str, Field(min_length=2, max_length=35)] | None = None
    #: Words or phrases the recogniser should favour.
    hints: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )


class Gather(Action):
    """Collect keys (DTMF) and, with ``speech``, an utterance; the result goes in an event."""

    kind: ClassVar[str] = "gather"
    #: Stop after this many keys.
    max_digits: int = Field(1, ge=1, le=64)
    #: Seconds to wait for the first key, and between keys.
    timeout_s: float = Field(5.0, gt=0, le=120)
    #: A key that ends the input early (not part of it).
    finish_on_key: str | None = "#"
    speech: GatherSpeech | None = None
    #: Where the result is POSTed (like ``redirect``); its answer replaces the rest of the
    #: list. Without it the list goes on and the result is sent with the next request.
    action_url: Url | None = None

    _key = field_validator("finish_on_key")(_check_key)
    _url = field_validator("action_url")(lambda v: v if v is None else _check_url(v))


class DialTarget(BaseModel):
    """One party to ring: an E.164 number or a SIP URI (a bare string is read as ``to``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    to: str
    #: Spoken to the called party alone, before the bridge.
    whisper: Text | None = None
    #: A key the called party must press to take the call (asked after the whisper).
    confirm: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        to = value if isinstance(value, str) else value.get("to") if isinstance(value, dict) else 0
        if not isinstance(to, str) or not (is_e164(to) or is_sip_uri(to)):
            raise ValueError("not an E.164 number or SIP URI")
        return {"to": to} if isinstance(value, str) else value

    _confirm = field_validator("confirm")(_check_key)

    @property
    def is_sip(self) -> bool:
        return self.to.startswith(("sip:", "sips:"))


class DialRecording(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: 1: both parties mixed; 2: caller left, called party right.
    channels: Literal[1, 2] = 2


class Dial(Action):
    """Ring ``targets`` at once; the first to answer (and confirm) is bridged to the caller."""

    kind: ClassVar[str] = "dial"
    targets: list[DialTarget] = Field(min_length=1, max_length=10)
    #: Number shown to the called parties; the number called when not given.
    caller_id: str | None = None
    #: Seconds to ring before giving up.
    timeout_s: int = Field(30, ge=1, le=600)
    #: Keep the caller's leg unanswered (ringing) until a target answers.
    answer_on_bridge: bool = False
    #: Longest bridged call, in seconds.
    time_limit_s: int | None = Field(None, ge=1, le=86_400)
    record: DialRecording | None = None

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("not an E.164 number")
        return value


class Conference(Action):
    """Put the call in the named conference room of the tenant."""

    kind: ClassVar[str] = "conference"
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: The conference starts when this participant enters (others hear hold until then).
    start_on_enter: bool = True
    #: The conference ends for everyone when this participant leaves.
    end_on_exit: bool = False
    muted: bool = False
    #: A tone when participants enter or leave.
    beep: bool = True
    #: Record the room's mix (from its start) when this action opens the room.
    record: bool = False


class Record(Action):
    """Record the caller (a voicemail box); a ``recording.completed`` event follows."""

    kind: ClassVar[str] = "record"
    #: Longest recording, in seconds.
    max_length_s: int = Field(3600, ge=1, le=14_400)
    #: Seconds of silence that end the recording.
    silence_timeout_s: float = Field(5.0, gt=0, le=600)
    finish_on_key: str | None = "#"
    beep: bool = True

    _key = field_validator("finish_on_key")(_check_key)


class Redirect(Action):
    """Fetch the next actions from ``url`` (signed, like the routing request)."""

    kind: ClassVar[str] = "redirect"
    ends_list: ClassVar[bool] = True
    url: Url
    #: ``POST`` sends the event as JSON; ``GET`` its fields as query parameters.
    method: Literal["POST", "GET"] = "POST"

    _url = field_validator("url")(_check_url)


class RobotScript(Action):
    """Run one of the tenant's dialogue scripts on this call."""

    kind: ClassVar[str] = "robot"
    script_id: int = Field(ge=1, le=2**31 - 1)
    #: Another stored version of the same script (same name); ``script_id``'s own when not given.
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    #: The script's lead fields (``{lead.first_name}``...).
    variables: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(max_length=1000)] | int | float | bool,
    ] = Field(default_factory=dict, max_length=50)


class Hangup(Action):
    kind: ClassVar[str] = "hangup"
    ends_list: ClassVar[bool] = True


#: Action name -> its class.
ACTIONS: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (Play, Say, Pause, Gather, Dial, Conference, Record, Redirect, RobotScript, Hangup)
}


def _loc_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def parse_actions(
    value: Any, *, field: str = "actions", max_actions: int = MAX_ACTIONS
) -> list[Action]:
    """Read a JSON action list; raise :class:`ActionError` listing every problem by path."""
    if not isinstance(value, list):
        raise ActionError([(field, "expected a list of actions")])
    if len(value) > max_actions:
        raise ActionError([(field, f"{len(value)} actions; at most {max_actions} are allowed")])
    problems: list[tuple[str, str]] = []
    actions: list[Action] = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if actions and actions[-1].ends_list:
            problems.append((where, f"nothing runs after {actions[-1].kind}"))
            break
        if not isinstance(item, dict) or len(item) != 1:
            problems.append((where, "expected an object with one key, the action's name"))
            continue
        ((name, body),) = item.items()
        cls = ACTIONS.get(name)
        if cls is None:
            known = ", ".join(sorted(ACTIONS))
            problems.append((where, f"unknown action {name!r} (known: {known})"))
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problems.append((f"{where}.{name}", "expected an object of the action's fields"))
            continue
        try:
            actions.append(cls.model_validate(body))
        except pydantic.ValidationError as e:
            for error in e.errors():
                problems.append((_loc_path(f"{where}.{name}", error["loc"]), _message(error)))
    if problems:
        raise ActionError(problems)
    return actions


def dump_actions(actions: list[Action]) -> list[dict[str, Any]]:
    """The JSON form :func:`parse_actions` reads (defaults left out)."""
    return [{a.kind: a.model_dump(mode="json", exclude_defaults=True)} for a in actions]
