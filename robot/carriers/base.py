"""The carrier contract: how the call engine places calls and exchanges audio and events.

A carrier dials and returns a :class:`Call`. A call has two streams, kept apart so that
control never waits behind data: ``audio()`` yields callee audio as 20 ms
:class:`~robot.audio.AudioChunk` frames at 8 kHz, and ``events()`` yields control events
(ringing, early media, answer, DTMF, hang-up). Outgoing audio is queued with ``play()`` and
paced in real time by the carrier; ``stop_playback()`` drops what was not yet sent (barge-in).

Every carrier fills a :class:`Signalling` record with what the network said, which the
voicemail signalling classifier turns into a call outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from robot.audio import AudioChunk


class CallOutcome(StrEnum):
    """One vocabulary for how a call ended, used everywhere (DB, API, CLI, webhooks)."""

    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    INVALID_NUMBER = "invalid_number"
    REJECTED = "rejected"
    NETWORK_ERROR = "network_error"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(slots=True)
class SipMessageInfo:
    """One SIP response (or request such as BYE) as seen by the caller side."""

    status: int | None  # None for a request
    method: str | None  # "BYE", "CANCEL"... for a request; None for a response
    reason_phrase: str = ""
    #: Header values by lower-case name, every occurrence kept in order.
    headers: dict[str, list[str]] = field(default_factory=dict)
    #: Milliseconds since the INVITE was sent.
    at_ms: float = 0.0
    has_sdp: bool = False

    def header(self, name: str) -> list[str]:
        return self.headers.get(name.lower(), [])


@dataclass(slots=True)
class Signalling:
    """What the network told us about a call, before, at and after answer."""

    messages: list[SipMessageInfo] = field(default_factory=list)
    final_status: int | None = None
    final_reason_phrase: str = ""
    #: Raw ``Reason`` header values from the final response and any BYE/CANCEL.
    reason: list[str] = field(default_factory=list)
    diversion: list[str] = field(default_factory=list)
    history_info: list[str] = field(default_factory=list)
    #: Provisional statuses in arrival order (180, 183...).
    provisional: list[int] = field(default_factory=list)
    early_media: bool = False
    ringing_ms: float | None = None
    answer_ms: float | None = None
    ended_ms: float | None = None
    #: "local" or "remote" once the call has ended after answer.
    hangup_by: str | None = None

    def record(self, message: SipMessageInfo) -> None:
        """Fold one message into the summary fields."""
        self.messages.append(message)
        if message.method is None and message.status is not None:
            if 100 < message.status < 200:
                self.provisional.append(message.status)
                if self.ringing_ms is None and message.status in (180, 183):
                    self.ringing_ms = message.at_ms
                if message.has_sdp:
                    self.early_media = True
            elif message.status >= 200:
                self.final_status = message.status
                self.final_reason_phrase = message.reason_phrase
                if message.status < 300:
                    self.answer_ms = message.at_ms
        self.reason.extend(message.header("reason"))
        self.diversion.extend(message.header("diversion"))
        self.history_info.extend(message.header("history-info"))


class CallState(StrEnum):
    DIALLING = "dialling"
    RINGING = "ringing"
    EARLY_MEDIA = "early_media"
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A control event from the carrier."""

    kind: str  # "ringing" | "early_media" | "answered" | "dtmf" | "hangup" | "failed"
    at_ms: float
    digit: str | None = None
    #: For "hangup": who hung up ("local" / "remote").
    by: str | None = None


@runtime_checkable
class Call(Protocol):
    call_id: str
    signalling: Signalling

    @property
    def state(self) -> CallState: ...

    def audio(self) -> AsyncIterator[AudioChunk]:
        """Callee audio, 20 ms frames at 8 kHz, until the call ends (early media included)."""
        ...

    def events(self) -> AsyncIterator[CallEvent]:
        """Control events until (and including) the final hangup/failed event."""
        ...

    async def play(self, chunk: AudioChunk) -> None:
        """Queue robot audio; the carrier sends it paced in real time."""
        ...

    def stop_playback(self) -> float:
        """Drop queued robot audio at once; return ms of queued audio that was dropped."""
        ...

    async def playback_done(self) -> None:
        """Wait until everything queued so far has been sent."""
        ...

    async def send_dtmf(self, digits: str) -> None: ...

    async def transfer(self, target: str, *, bridged: bool = False) -> None: ...

    async def hangup(self, reason: str | None = None) -> None: ...


@runtime_checkable
class Carrier(Protocol):
    async def dial(
        self,
        number: str,
        *,
        caller_id: str | None = None,
        ring_timeout_s: float = 30.0,
        variables: dict[str, str] | None = None,
    ) -> Call:
        """Start a call; returns at once with a call in state DIALLING."""
        ...

    async def close(self) -> None: ...


# --- helpers for carrier implementations ------------------------------------------------------

#: Digits a DTMF event can carry (RFC 4733: 0-9, *, #, A-D).
DTMF_DIGITS = frozenset("0123456789*#ABCD")


def check_dtmf(digits: str) -> None:
    """Raise :class:`~robot.errors.CarrierError` unless ``digits`` are all DTMF digits."""
    from robot.errors import CarrierError

    if not digits or any(d not in DTMF_DIGITS for d in digits):
        raise CarrierError(f"invalid DTMF digits {digits!r}")


async def queued_audio(queue: asyncio.Queue[AudioChunk | None]) -> AsyncIterator[AudioChunk]:
    """A call's ``audio()`` from a queue that ends with ``None`` (kept for later readers)."""
    while (chunk := await queue.get()) is not None:
        yield chunk
    queue.put_nowait(None)


async def queued_events(queue: asyncio.Queue[CallEvent | None]) -> AsyncIterator[CallEvent]:
    """A call's ``events()`` from a queue, up to and including the final hangup/failed event."""
    while (event := await queue.get()) is not None:
        yield event
        if event.kind in ("hangup", "failed"):
            return
    queue.put_nowait(None)
