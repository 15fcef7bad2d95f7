"""The ``tests`` section of a dialogue script: test conversations, each a lead, a moment, the
callee's steps and what must follow each (run by :mod:`dialogues.script_tests`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from dialogues.schema_base import StrictModel, as_list


class TestTurn(StrictModel):
    """One step of a test conversation: what the callee does, and what must follow."""

    user: str | None = None
    #: The recognizer's confidence in ``user`` (0..1), as a call would report it.
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    no_input: bool = False
    dtmf: str | None = None
    hangup: bool = False
    #: Expected state after the step.
    state: str | None = None
    #: Substrings (case-insensitive) the robot's reply must contain.
    says: list[str] = Field(default_factory=list)
    intent: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=list)

    @field_validator("says", "actions", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return as_list(value)

    @model_validator(mode="after")
    def _one_input(self) -> TestTurn:
        given = [self.user is not None, self.no_input, self.dtmf is not None, self.hangup]
        if sum(given) != 1:
            raise ValueError("a test turn has exactly one of user, no_input, dtmf, hangup")
        return self


class TestExpectation(StrictModel):
    disposition: str | None = None
    state: str | None = None
    ended: bool | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    actions: list[str] = Field(default_factory=list)


class TestConversation(StrictModel):
    name: str
    lead: dict[str, Any] = Field(default_factory=dict)
    #: The moment the conversation happens (ISO 8601, with offset), for date phrases.
    now: str | None = None
    timezone: str | None = None
    #: What the robot's first words must contain.
    greeting: list[str] = Field(default_factory=list)
    turns: list[TestTurn] = Field(default_factory=list)
    expect: TestExpectation = Field(default_factory=TestExpectation)

    @field_validator("greeting", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return as_list(value)
