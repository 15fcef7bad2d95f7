"""An inbound caller's leg that still rings while its actions run (``dial.answer_on_bridge``).

The runner answers such a leg (:attr:`Ringing.answer`) just before the first action that
needs an answered call, or when a ``dial`` with ``answer_on_bridge`` bridges a target. When
the list ends (or hangs up) while the caller still rings, the caller is refused with a SIP
final response that says what the last ``dial`` met (:func:`refusal`): 486 when the target
was busy, 603 when it declined, 480 when nobody answered; the caller is never answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = ["Ringing", "refusal"]

#: A dial's outcome -> the final response a caller who still rings gets.
REFUSALS: dict[str, tuple[int, str]] = {
    "busy": (486, "Busy Here"),
    "rejected": (603, "Decline"),
    "invalid_number": (404, "Not Found"),
    "no_answer": (480, "Temporarily Unavailable"),
    "unavailable": (480, "Temporarily Unavailable"),
}
#: When no dial ran, or its targets ended in different ways that were not busy.
DEFAULT_REFUSAL = (480, "Temporarily Unavailable")


@dataclass(frozen=True, slots=True)
class Ringing:
    """How to answer, or refuse with a final response, a caller's leg that still rings."""

    answer: Callable[[], Awaitable[None]]
    #: ``reject(status, reason)``; None when the carrier has no way to refuse (then a hang-up).
    reject: Callable[[int, str], Awaitable[None]] | None = None
    #: Opens the caller's media before the answer (SIP: a 183 with our SDP); True when audio
    #: played from then on reaches the caller. None: the carrier cannot (the caller just rings).
    early_media: Callable[[], Awaitable[bool]] | None = None


def refusal(outcomes: Sequence[str]) -> tuple[int, str]:
    """The final response for a caller whose ``dial`` reached nobody (its targets' outcomes)."""
    if outcomes and len(set(outcomes)) == 1 and outcomes[0] in REFUSALS:
        return REFUSALS[outcomes[0]]
    if "busy" in outcomes:
        return REFUSALS["busy"]
    return DEFAULT_REFUSAL
