"""The dialogue script format: typed models for what a YAML script may say.

A script is a state machine. Each state may *say* something on entry, *ask* a question, fill a
*slot* from the answer, and choose the next state per recognised intent (``on``), per DTMF
digit (``dtmf``), when nothing was said (``no_input``) or nothing was understood
(``no_match``). ``global`` holds handlers that apply in every state that does not override
them. A state with ``end: true`` finishes the call with its ``disposition``.

The models reject unknown keys so that a typo is an error with a line number, not a silently
ignored setting. Cross-references (states, intents, slots, variables) are checked by
:mod:`dialogues.loader`, which also attaches positions to every problem. The test
conversations of the ``tests`` section are modelled in :mod:`dialogues.conversation_schema`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from dialogues.conversation_schema import TestConversation
from dialogues.schema_base import StrictModel, as_list

DISPOSITIONS = frozenset(
    {
        "qualified",
        "not_interested",
        "callback",
        "wrong_person",
        "do_not_call",
        "no_consent",
        "transferred",
        "incomplete",
    }
)

#: Languages with a bundled default voice and recognizer.
LANGUAGES = frozenset({"en", "ru"})

ACTION_KINDS = ("set", "transfer", "hangup", "callback", "do_not_call")


Utterances = Annotated[list[str], Field(default_factory=list)]


class Voice(StrictModel):
    engine: str = "piper"
    name: str | None = None
    #: Speaking rate multiplier (1.0 = the voice's natural pace).
    rate: float = Field(default=1.0, gt=0.25, le=4.0)


#: Intents that end the call: confirmed with a short question when the robot is unsure.
CALL_ENDING_INTENTS = ("not_interested", "do_not_call", "wrong_person")


class UnsureLimits(StrictModel):
    """When the robot counts what it heard as unsure (any one limit crossed is enough)."""

    #: The recognizer's confidence (0..1) below this. Typed text has none and is sure.
    asr_below: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Top intent's probability minus the runner-up's below this.
    margin_below: float = Field(default=0.2, ge=0.0, le=1.0)
    #: Share of words the classifier never saw in training above this.
    oov_above: float = Field(default=0.5, ge=0.0, le=1.0)
    #: A recognized utterance (not typed text) of fewer words than this, taken for a
    #: call-ending intent: little evidence, and often the end of a longer sentence the
    #: endpointer cut (0, the default: off).
    words_below: int = Field(default=0, ge=0, le=20)


class ScriptSettings(StrictModel):
    #: Intents scoring below this confidence count as "not understood".
    nlu_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    #: Global intents that may cut a slot question short even when the answer also holds a
    #: value ("no, stop calling me"), when they score at least ``interrupt_threshold``.
    #: Others (e.g. callback_later) apply only when the slot finds nothing.
    interrupt_intents: list[str] = Field(
        default_factory=lambda: ["do_not_call", "not_interested", "wrong_person", "human_agent"]
    )
    interrupt_threshold: float = Field(default=0.75, ge=0.0, le=1.0)
    #: Which classifier understands the callee: the built-in one or a Rasa server.
    nlu: Literal["builtin", "rasa"] = "builtin"
    rasa_url: str | None = None
    #: Silence after a question before it counts as no input.
    no_input_timeout_ms: int = Field(default=6000, ge=500, le=60000)
    #: Reprompts before a state's ``then`` applies (per state, per kind).
    max_retries: int = Field(default=2, ge=0, le=10)
    #: May the callee interrupt the robot?
    barge_in: bool = True
    #: Time zone for resolving "tomorrow at five" when the lead has none (IANA name).
    timezone: str | None = None
    #: What to do when an answering machine picks up: hang up, or wait for the beep and
    #: leave ``voicemail_message`` (placeholders allowed).
    on_machine: Literal["hangup", "leave_message"] = "hangup"
    voicemail_message: str | None = None
    #: Dispositions that make the call a qualified lead: the CRM gets ``lead.qualified``
    #: for them (a lead put through to a specialist is usually one too).
    qualified_dispositions: list[str] = Field(default_factory=lambda: ["qualified"])
    #: Intents confirmed with a yes/no question before they are acted on, when what was
    #: heard is unsure (``unsure``). A state may override the list with its own.
    confirm_intents: list[str] = Field(default_factory=lambda: list(CALL_ENDING_INTENTS))
    #: Intent -> the confirmation question ("Just to be sure: ..., right?").
    confirm_prompts: dict[str, str] = Field(default_factory=dict)
    unsure: UnsureLimits = Field(default_factory=UnsureLimits)


class VariableDef(StrictModel):
    """A lead variable the script uses as ``{lead.NAME}``."""

    required: bool = False
    default: str | None = None
    description: str | None = None


class IntentDef(StrictModel):
    examples: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("examples", mode="before")
    @classmethod
    def _examples_block(cls, value: Any) -> Any:
        # Rasa style: a block string of "- example" lines.
        if isinstance(value, str):
            lines = [line.strip() for line in value.splitlines()]
            return [line[1:].strip() for line in lines if line.startswith("-") and line[1:].strip()]
        return value


class SlotDef(StrictModel):
    type: str
    description: str | None = None
    #: For ``choice`` slots: option name -> phrases that mean it.
    options: dict[str, list[str]] | None = None
    #: Say the value back before storing it ("Fifteen thousand dollars, is that right?"):
    #: never, when the recognizer was unsure of the answer, or always.
    read_back: Literal["never", "low_confidence", "always"] = "never"

    @field_validator("options", mode="before")
    @classmethod
    def _options_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(v): [str(v)] for v in value}
        if isinstance(value, dict):
            return {k: as_list(v) for k, v in value.items()}
        return value


class Action(StrictModel):
    """One side effect. YAML: ``hangup``, ``do_not_call``, ``{set: {slot: value}}``,
    ``{transfer: "+12025550100"}`` or ``{transfer: {to: ..., mode: bridged}}``,
    ``{callback: SLOT}`` (the slot holding the time asked for)."""

    kind: Literal["set", "transfer", "hangup", "callback", "do_not_call"]
    values: dict[str, Any] = Field(default_factory=dict)
    to: str | None = None
    mode: Literal["blind", "bridged"] = "bridged"
    slot: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            if len(value) != 1:
                raise ValueError(
                    f"an action is one of {', '.join(ACTION_KINDS)} with its argument, "
                    f"got keys {sorted(value)}"
                )
            ((kind, arg),) = value.items()
            if kind == "set":
                if not isinstance(arg, dict):
                    raise ValueError("set takes a mapping of slot: value")
                return {"kind": kind, "values": arg}
            if kind == "transfer":
                if isinstance(arg, dict):
                    return {"kind": kind, **arg}
                return {"kind": kind, "to": arg}
            if kind == "callback":
                return {"kind": kind, "slot": arg}
            if kind in ("hangup", "do_not_call"):
                return {"kind": kind}
            return {"kind": kind}
        return value

    @model_validator(mode="after")
    def _arguments(self) -> Action:
        if self.kind == "transfer" and not self.to:
            raise ValueError("transfer needs a number or SIP URI to transfer to")
        if self.kind == "callback" and not self.slot:
            raise ValueError("callback needs the slot that holds the requested time")
        return self


Condition = str


class Transition(StrictModel):
    """Where to go. YAML: a state name, or a mapping of these fields.

    Without ``goto`` the dialogue stays in the current state and asks its question again
    (after ``say``, if given): that is how "who is calling?" is answered mid-question."""

    goto: str | None = None
    say: list[str] = Field(default_factory=list)
    #: Extract this slot from the same utterance before ``if`` is tested.
    capture: str | None = None
    #: ``SLOT`` (filled and truthy) or ``not SLOT``.
    if_: Condition | None = Field(default=None, alias="if")
    set: dict[str, Any] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    #: Repeat the last thing the robot said (ask_repeat) instead of re-asking.
    repeat: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"goto": value}
        if isinstance(value, dict) and "say" in value:
            value = {**value, "say": as_list(value["say"])}
        return value


def _branches(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Branches = Annotated[list[Transition], Field(min_length=1)]


class RetryHandler(StrictModel):
    """What to do on no input / no match: reprompt up to ``retries`` times, then ``then``."""

    say: list[str] = Field(default_factory=list)
    retries: int | None = Field(default=None, ge=0, le=10)
    then: Transition | None = None

    @field_validator("say", mode="before")
    @classmethod
    def _say_list(cls, value: Any) -> Any:
        return as_list(value)


class State(StrictModel):
    say: list[str] = Field(default_factory=list)
    ask: list[str] = Field(default_factory=list)
    slot: str | None = None
    #: Where to go after ``say`` (or once ``slot`` is filled): a state, or branches with ``if``.
    next: list[Transition] | None = None
    on: dict[str, Branches] = Field(default_factory=dict)
    dtmf: dict[str, Transition] = Field(default_factory=dict)
    no_input: RetryHandler | None = None
    no_match: RetryHandler | None = None
    actions: list[Action] = Field(default_factory=list)
    disposition: str | None = None
    end: bool = False
    description: str | None = None
    #: Intents confirmed when unsure in this state (instead of ``settings.confirm_intents``).
    confirm_intents: list[str] | None = None
    #: Intent -> this state's confirmation question (before ``settings.confirm_prompts``).
    confirm_prompts: dict[str, str] = Field(default_factory=dict)

    @field_validator("say", "ask", mode="before")
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("next", mode="before")
    @classmethod
    def _next_branches(cls, value: Any) -> Any:
        return None if value is None else _branches(value)

    @field_validator("on", mode="before")
    @classmethod
    def _on_branches(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _branches(v) for k, v in value.items()}
        return value

    @field_validator("dtmf", mode="before")
    @classmethod
    def _dtmf_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @property
    def is_question(self) -> bool:
        return bool(self.ask or self.slot or self.on or self.dtmf)


class GlobalHandlers(StrictModel):
    on: dict[str, Branches] = Field(default_factory=dict)
    no_input: RetryHandler | None = None
    no_match: RetryHandler | None = None

    @field_validator("on", mode="before")
    @classmethod
    def _on_branches(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _branches(v) for k, v in value.items()}
        return value


class Script(StrictModel):
    script: str = Field(min_length=1, description="The script's name.")
    description: str | None = None
    version: int | str = 1
    language: str = "en"
    voice: Voice = Field(default_factory=Voice)
    settings: ScriptSettings = Field(default_factory=ScriptSettings)
    #: Lead variables used as {lead.NAME}.
    variables: dict[str, VariableDef] = Field(default_factory=dict)
    #: Fixed texts used as {NAME} (company, agent name...).
    constants: dict[str, str] = Field(default_factory=dict)
    #: Rasa NLU YAML files (paths relative to the script) with more intent examples.
    nlu: list[str] = Field(default_factory=list)
    intents: dict[str, IntentDef] = Field(default_factory=dict)
    slots: dict[str, SlotDef] = Field(default_factory=dict)
    start: str | None = None
    global_: GlobalHandlers = Field(default_factory=GlobalHandlers, alias="global")
    states: dict[str, State] = Field(default_factory=dict)
    tests: list[TestConversation] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("nlu", mode="before")
    @classmethod
    def _nlu_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("variables", mode="before")
    @classmethod
    def _variables(cls, value: Any) -> Any:
        # `variables: [first_name, company]` is shorthand for optional variables.
        if isinstance(value, list):
            return {str(v): {} for v in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("intents", mode="before")
    @classmethod
    def _intents(cls, value: Any) -> Any:
        # `intent: [examples...]` is shorthand for `intent: {examples: [...]}`.
        if isinstance(value, dict):
            return {
                k: ({"examples": v} if isinstance(v, list | str) or v is None else v)
                for k, v in value.items()
            }
        return value

    @field_validator("slots", mode="before")
    @classmethod
    def _slots(cls, value: Any) -> Any:
        # `slot: money` is shorthand for `slot: {type: money}`.
        if isinstance(value, dict):
            return {k: ({"type": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value
