"""Callee personas of the simulated network: who answers a number, how, and what they say.

A persona is a YAML file (bundled ones live in ``robot/carriers/personas/``; QA can add their
own folder). The ``kind`` decides the signalling the network sends (busy, no answer, invalid
number, phone off, rejected, network error, voicemail, human); a ``human`` persona then speaks
its ``lines`` turn by turn, a ``voicemail`` persona plays a greeting and a beep.

Turn rules: ``lines[n]`` answers the robot's (n+1)-th prompt. It is said ``think_ms`` after
that prompt ends, or, with ``interrupt_after_ms``, that many ms after the prompt *starts*
(barge-in). A line may send DTMF and may end the call (``hangup_after: true``).

Persona files are read by :mod:`robot.carriers.persona_loader`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from robot.phone import is_e164

_DTMF = re.compile(r"^[0-9*#A-D]+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_e164(number: str) -> str:
    if not is_e164(number):
        hint = "" if number.startswith("+") else " (quote it in YAML so the '+' is kept)"
        raise ValueError(f"{number!r} is not an E.164 number like '+12025550101'{hint}")
    return number


E164Number = Annotated[str, AfterValidator(_check_e164)]


class PersonaKind(StrEnum):
    HUMAN = "human"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID_NUMBER = "invalid_number"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    NETWORK_ERROR = "network_error"


#: Kinds whose call is answered (200 OK); every other kind ends with a failure response.
ANSWERING_KINDS = frozenset({PersonaKind.HUMAN, PersonaKind.VOICEMAIL})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonaVoice(_Strict):
    """Which voice speaks for the persona, and how it differs from the robot's voice.

    ``piper``: the packaged Piper voice, pitch-shifted by resampling (``pitch`` 1.3 = 30%
    higher) with the tempo kept at ``speed``. ``espeak``: an espeak-ng voice such as
    ``en-us+f3`` (``variant``), ``speed`` scaling 160 words per minute. ``recording``: real
    recordings, for languages no packaged synthesizer speaks well enough to be understood:
    ``recordings`` maps each thing the persona says to the WAV file(s) in ``folder`` (absolute,
    or relative to the persona file) that say it, played one after another.
    """

    engine: Literal["piper", "espeak", "recording"] = "piper"
    variant: str | None = None
    pitch: float = Field(1.0, ge=0.6, le=1.8)
    speed: float = Field(1.0, ge=0.5, le=2.0)
    #: Output gain relative to the engine's level (1.0 = unchanged).
    gain: float = Field(1.0, gt=0.0, le=2.0)
    folder: str | None = None
    #: Text -> files, as pairs (the model is hashable: it keys the speech cache).
    recordings: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @field_validator("recordings", mode="before")
    @classmethod
    def _recordings_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return tuple(
                (str(text), (files,) if isinstance(files, str) else tuple(files))
                for text, files in value.items()
            )
        return value

    @field_validator("folder")
    @classmethod
    def _folder_from_persona_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        folder = Path(value).expanduser()
        if not folder.is_absolute() and base is not None:
            folder = Path(base) / folder
        return str(folder)

    @model_validator(mode="after")
    def _variant_fits_engine(self) -> PersonaVoice:
        if self.engine == "espeak" and not self.variant:
            raise ValueError("an espeak voice needs a variant, e.g. 'en-us+f3'")
        if self.engine != "piper" and self.pitch != 1.0:
            raise ValueError("pitch applies to piper voices; choose an espeak variant instead")
        if self.engine == "recording":
            if not self.folder or not self.recordings:
                raise ValueError("a recording voice needs 'folder' and 'recordings'")
            for text, files in self.recordings:
                if not files:
                    raise ValueError(f"recordings: no file for {text!r}")
                for name in files:
                    if not (Path(self.folder) / name).is_file():
                        raise ValueError(f"recordings: {name!r} is not a file in {self.folder}")
        elif self.recordings or self.folder:
            raise ValueError("'folder' and 'recordings' apply to engine: recording")
        return self

    def recording_files(self, text: str) -> list[Path]:
        """The files that say ``text`` (recording voices)."""
        for said, files in self.recordings:
            if said == text:
                return [Path(self.folder or ".") / name for name in files]
        raise KeyError(text)


class PersonaLine(_Strict):
    """What the persona does at one turn.

    Without ``when``, ``lines[n-1]`` answers the robot's n-th prompt. A persona whose lines
    have ``when`` *listens*: it transcribes each robot prompt and answers with the first line
    not yet said whose ``when`` phrases occur in it (a line already said when the robot asks
    the same again), else with the next line without ``when``.
    """

    say: str = ""
    #: Phrases (any case) of the robot's prompt this line answers.
    when: tuple[str, ...] = ()
    dtmf: str | None = None
    #: Pause after the robot's prompt ends before speaking (ms).
    think_ms: int = Field(600, ge=0, le=30_000)
    #: Barge-in: start this many ms after the robot's prompt starts, over the robot.
    interrupt_after_ms: int | None = Field(None, ge=0, le=60_000)
    #: Hang up (BYE) once this line has been said.
    hangup_after: bool = False

    @field_validator("dtmf")
    @classmethod
    def _dtmf_digits(cls, value: str | None) -> str | None:
        if value is not None and not _DTMF.match(value):
            raise ValueError(f"DTMF digits must be 0-9, *, #, A-D; got {value!r}")
        return value

    @field_validator("when", mode="before")
    @classmethod
    def _when_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return value

    @model_validator(mode="after")
    def _does_something(self) -> PersonaLine:
        if not self.say.strip() and not self.dtmf and not self.hangup_after:
            raise ValueError("a line needs 'say', 'dtmf' or 'hangup_after'")
        if any(not phrase.strip() for phrase in self.when):
            raise ValueError("'when' phrases must not be empty")
        return self


class Beep(_Strict):
    frequency_hz: float = Field(1000.0, ge=300.0, le=3400.0)
    duration_ms: int = Field(500, ge=50, le=3000)
    level_dbfs: float = Field(-12.0, ge=-40.0, le=0.0)


class VoicemailSetup(_Strict):
    greeting: str
    beep: Beep = Field(default_factory=Beep)
    #: The network adds ``Diversion: <sip:NUMBER@carrier>;reason=no-answer`` to the 200 OK.
    diversion: bool = False
    #: The mailbox hangs up this long after the beep (ms).
    record_max_ms: int = Field(30_000, ge=1_000, le=600_000)


class Noise(_Strict):
    """Background noise under everything the persona sends (and in its silences)."""

    color: Literal["white", "pink"] = "pink"
    #: Signal-to-noise ratio against a nominal speech level of -20 dBFS.
    snr_db: float = Field(30.0, ge=0.0, le=80.0)


class Persona(_Strict):
    name: str
    description: str = ""
    #: E.164 numbers this persona answers on (``number:`` is accepted for one).
    numbers: tuple[E164Number, ...] = Field(min_length=1)
    kind: PersonaKind
    voice: PersonaVoice = Field(default_factory=PersonaVoice)
    #: Ringing time before the persona answers or the network gives up (ms; 0 = no 180).
    ring_ms: int = Field(3_000, ge=0, le=300_000)
    #: After answering, how long before the first sound (ms).
    answer_delay_ms: int = Field(400, ge=0, le=30_000)
    #: What a human says on picking up (``null``: picks up silently).
    hello: str | None = "Hello?"
    #: Say the hello again after this much dead air before the robot's first word (twice at most).
    hello_repeat_ms: int | None = Field(None, ge=500, le=30_000)
    lines: tuple[PersonaLine, ...] = ()
    #: The answer to a robot question that checks what it heard ("Twenty thousand dollars, is
    #: that right?"), said to any prompt with one of its ``when`` phrases, as often as asked,
    #: without taking a turn of ``lines``: such a persona transcribes every prompt. A barge-in
    #: line (``interrupt_after_ms``) is chosen by count when its prompt starts, before then.
    confirm: PersonaLine | None = None
    #: Phrases of a robot prompt that asks again ("Sorry, I didn't catch that."): a persona
    #: that counts prompts says its last line again, without using up a line (it transcribes
    #: every prompt, like one with ``confirm``).
    repeat_when: tuple[str, ...] = ()
    noise: Noise | None = None
    voicemail: VoicemailSetup | None = None
    #: Early-media announcement before a failure (invalid_number has a default).
    announcement: str | None = None
    #: Override the final SIP status / Q.850 cause the network sends for failure kinds.
    final_status: int | None = Field(None, ge=300, le=699)
    q850_cause: int | None = Field(None, ge=1, le=127)
    #: A human hangs up after this long without hearing the robot (ms).
    patience_ms: int = Field(20_000, ge=1_000, le=600_000)

    @model_validator(mode="before")
    @classmethod
    def _single_number(cls, data: Any) -> Any:
        if isinstance(data, dict) and "number" in data:
            if "numbers" in data:
                raise ValueError("give either 'number' or 'numbers', not both")
            data = dict(data)
            number = data.pop("number")
            data["numbers"] = [number] if isinstance(number, str) else number
        return data

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"name must be lower_snake_case, got {value!r}")
        return value

    @field_validator("numbers", mode="before")
    @classmethod
    def _numbers_as_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(str(v) if isinstance(v, int) else v for v in value)
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Persona:
        if self.kind == PersonaKind.VOICEMAIL and self.voicemail is None:
            raise ValueError("a voicemail persona needs a 'voicemail' section with a greeting")
        if self.kind != PersonaKind.VOICEMAIL and self.voicemail is not None:
            raise ValueError(f"'voicemail' only applies to kind voicemail, not {self.kind}")
        if self.lines and self.kind != PersonaKind.HUMAN:
            raise ValueError(f"'lines' only apply to kind human, not {self.kind}")
        if (self.final_status or self.q850_cause) and self.kind in ANSWERING_KINDS:
            raise ValueError(f"final_status/q850_cause do not apply to kind {self.kind}")
        if self.confirm is not None and (not self.confirm.when or self.kind != PersonaKind.HUMAN):
            raise ValueError("'confirm' needs 'when' phrases and applies to kind human only")
        if self.repeat_when and (self.listens or self.kind != PersonaKind.HUMAN):
            raise ValueError("'repeat_when' applies to a human persona that counts prompts")
        if self.listens and any(line.interrupt_after_ms is not None for line in self.lines):
            raise ValueError(
                "'lines' of a listening persona (with 'when') cannot use interrupt_after_ms: "
                "it hears a prompt only once it ends"
            )
        if self.voice.engine == "recording":
            recorded = {text for text, _files in self.voice.recordings}
            for text in self.texts():
                if text not in recorded:
                    raise ValueError(f"'voice' has no recording for {text!r}")
        return self

    @property
    def listens(self) -> bool:
        """Some line answers by what the robot said (``when``), not by prompt count."""
        return any(line.when for line in self.lines)

    def texts(self) -> list[str]:
        """Every text this persona may speak (to synthesize ahead of time)."""
        out = [self.hello] if self.hello and self.kind == PersonaKind.HUMAN else []
        out += [line.say for line in self.lines if line.say.strip()]
        if self.confirm is not None and self.confirm.say.strip():
            out.append(self.confirm.say)
        if self.voicemail:
            out.append(self.voicemail.greeting)
        if self.announcement:
            out.append(self.announcement)
        return out
