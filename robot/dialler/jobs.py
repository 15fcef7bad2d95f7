"""What the dialler hands to the call session and what it gets back.

The dialler never talks to a carrier: it gives a :class:`DialJob` to a :class:`CallRunner`
(the call session, or a fake in tests) and stores the :class:`CallResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from robot.carriers.base import CallOutcome


@dataclass(frozen=True, slots=True)
class DialJob:
    """One call to place for a lead."""

    call_id: int
    lead_id: int
    tenant_id: int
    campaign_id: int
    number: str
    attempt: int
    variables: dict[str, Any]
    script_id: int | None
    script_version: int | None
    caller_id: str | None
    time_zones: tuple[str, ...]


@dataclass(slots=True)
class CallResult:
    """How a call went, as the call session reports it."""

    outcome: CallOutcome | str
    disposition: str | None = None
    #: The disposition is one of the script's ``qualified_dispositions`` (None: the runner
    #: did not say; then only the disposition ``qualified`` counts).
    qualified: bool | None = None
    q850: int | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    #: For disposition "callback": when the callee asked to be called back (aware datetime).
    callback_at: datetime | None = None
    duration_ms: float | None = None
    answered_at: datetime | None = None
    voicemail_verdict: str | None = None
    voicemail_reason: str | None = None
    voicemail_decision_ms: float | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    signalling: dict[str, Any] = field(default_factory=dict)
    recording_path: str | None = None
    error: str | None = None


class CallRunner(Protocol):
    async def run(self, job: DialJob) -> CallResult:
        """Place the call and run it to the end; return how it went."""
        ...
