"""Retry policy: what happens to a lead after an attempt.

Per outcome (busy, no_answer, unavailable, machine, network_error...) a delay before the next
attempt; a cap on attempts; outcomes and dispositions that end the lead. A requested callback
is scheduled at exactly the time asked (the dialler then moves it into the calling window if
it falls outside) and may go past ``max_attempts`` by ``extra_callback_attempts``.

JSON form (campaign ``retry_policy``; fields left out keep their defaults)::

    {"max_attempts": 3, "delays_s": {"busy": 600, "no_answer": 3600},
     "final_outcomes": ["invalid_number"], "final_dispositions": ["qualified", ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from models.call import Disposition
from models.lead import LeadStatus
from robot.carriers.base import CallOutcome
from robot.errors import ValidationError

#: Key used in ``delays_s`` for an answered call that ended without a conclusion.
INCOMPLETE = "incomplete"

DEFAULT_DELAYS_S: dict[str, int] = {
    CallOutcome.BUSY: 10 * 60,
    CallOutcome.NO_ANSWER: 60 * 60,
    CallOutcome.UNAVAILABLE: 2 * 60 * 60,
    CallOutcome.MACHINE: 4 * 60 * 60,
    CallOutcome.NETWORK_ERROR: 5 * 60,
    CallOutcome.REJECTED: 4 * 60 * 60,
    CallOutcome.CANCELLED: 10 * 60,
    CallOutcome.FAILED: 10 * 60,
    INCOMPLETE: 60 * 60,
}
DEFAULT_FINAL_OUTCOMES = frozenset({CallOutcome.INVALID_NUMBER.value})
DEFAULT_FINAL_DISPOSITIONS = frozenset(
    {
        Disposition.QUALIFIED.value,
        Disposition.NOT_INTERESTED.value,
        Disposition.WRONG_PERSON.value,
        Disposition.DO_NOT_CALL.value,
        Disposition.NO_CONSENT.value,
        Disposition.TRANSFERRED.value,
    }
)
_KNOWN_KEYS = {o.value for o in CallOutcome} | {INCOMPLETE}
_KNOWN_DISPOSITIONS = {d.value for d in Disposition}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    extra_callback_attempts: int = 2
    delays_s: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_DELAYS_S))
    final_outcomes: frozenset[str] = DEFAULT_FINAL_OUTCOMES
    final_dispositions: frozenset[str] = DEFAULT_FINAL_DISPOSITIONS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "retry_policy") -> RetryPolicy:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValidationError(f"{where}: expected an object, got {type(data).__name__}")
        allowed = {
            "max_attempts",
            "extra_callback_attempts",
            "delays_s",
            "final_outcomes",
            "final_dispositions",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for name in ("max_attempts", "extra_callback_attempts"):
            if name in data:
                value = data[name]
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValidationError(f"{where}.{name}: expected a whole number >= 0")
                kwargs[name] = value
        if "delays_s" in data:
            delays = dict(DEFAULT_DELAYS_S)
            for key, value in (data["delays_s"] or {}).items():
                if key not in _KNOWN_KEYS:
                    raise ValidationError(f"{where}.delays_s.{key}: not a call outcome")
                if not isinstance(value, int | float) or value < 0:
                    raise ValidationError(f"{where}.delays_s.{key}: expected seconds >= 0")
                delays[key] = int(value)
            kwargs["delays_s"] = delays
        if "final_outcomes" in data:
            bad = set(data["final_outcomes"]) - _KNOWN_KEYS
            if bad:
                raise ValidationError(f"{where}.final_outcomes: unknown {sorted(bad)}")
            kwargs["final_outcomes"] = frozenset(data["final_outcomes"])
        if "final_dispositions" in data:
            bad = set(data["final_dispositions"]) - _KNOWN_DISPOSITIONS
            if bad:
                raise ValidationError(f"{where}.final_dispositions: unknown {sorted(bad)}")
            kwargs["final_dispositions"] = frozenset(data["final_dispositions"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "extra_callback_attempts": self.extra_callback_attempts,
            "delays_s": dict(self.delays_s),
            "final_outcomes": sorted(self.final_outcomes),
            "final_dispositions": sorted(self.final_dispositions),
        }


@dataclass(frozen=True, slots=True)
class LeadDecision:
    """The lead's next state after an attempt (``next_attempt_at`` before window alignment)."""

    status: LeadStatus
    next_attempt_at: datetime | None
    reason: str


def decide_next(
    policy: RetryPolicy,
    *,
    attempts_made: int,
    outcome: str,
    disposition: str | None,
    callback_at: datetime | None,
    now: datetime,
) -> LeadDecision:
    """Apply ``policy`` to the result of attempt number ``attempts_made``."""
    if disposition == Disposition.DO_NOT_CALL:
        return LeadDecision(LeadStatus.DNC, None, "callee asked not to be called")
    if disposition in policy.final_dispositions:
        return LeadDecision(LeadStatus.DONE, None, f"ended by disposition {disposition}")
    if outcome in policy.final_outcomes:
        status = LeadStatus.INVALID if outcome == CallOutcome.INVALID_NUMBER else LeadStatus.DONE
        return LeadDecision(status, None, f"ended by outcome {outcome}")
    if disposition == Disposition.CALLBACK and callback_at is not None:
        if attempts_made < policy.max_attempts + policy.extra_callback_attempts:
            return LeadDecision(LeadStatus.PENDING, callback_at, "callback requested")
        return LeadDecision(LeadStatus.EXHAUSTED, None, "callback requested, attempts used up")
    if attempts_made >= policy.max_attempts:
        return LeadDecision(
            LeadStatus.EXHAUSTED, None, f"{attempts_made} attempts made, last {outcome}"
        )
    key = INCOMPLETE if outcome == CallOutcome.HUMAN else outcome
    delay_s = policy.delays_s.get(key, policy.delays_s.get(CallOutcome.FAILED, 600))
    return LeadDecision(LeadStatus.PENDING, now + timedelta(seconds=delay_s), f"retry after {key}")
