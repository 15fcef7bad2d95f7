"""Listen to callee audio outside the human/machine decision.

* :class:`EarlyMediaDetector` runs on early media (183 Session Progress, before answer): a
  Special Information Tone or a carrier phrase ("the number you have dialed...") means the
  call will not reach a person, and says why when it can.
* :class:`BeepWaiter` runs after a ``machine`` verdict when the script leaves a message: it
  reports when the greeting's beep has ended (or when the greeting has gone quiet without one),
  which is when the robot should start speaking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.base import CallOutcome
from voicemail.phrases import PhraseSpotter
from voicemail.tones import ToneSegment, ToneTracker, is_sit_sequence
from voicemail.vad import VoiceActivityDetector, create_vad

logger = logging.getLogger(__name__)

#: Carrier phrase -> the outcome it announces.
PHRASE_OUTCOMES: dict[str, CallOutcome] = {
    "the number you have dialed": CallOutcome.INVALID_NUMBER,
    "is not in service": CallOutcome.INVALID_NUMBER,
    "not in service": CallOutcome.INVALID_NUMBER,
    "check the number": CallOutcome.INVALID_NUMBER,
    "cannot be completed": CallOutcome.INVALID_NUMBER,
    "your call cannot be completed": CallOutcome.INVALID_NUMBER,
    "circuits are busy": CallOutcome.NETWORK_ERROR,
    "is not answering": CallOutcome.NO_ANSWER,
    "not available": CallOutcome.UNAVAILABLE,
    "is unavailable": CallOutcome.UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class Announcement:
    """A carrier announcement heard in early media."""

    at_ms: float
    reason: str
    #: The outcome the announcement implies, when it says (None: not a person, cause unknown).
    outcome: CallOutcome | None = None


def sit_outcome(triple: list[ToneSegment]) -> tuple[str, CallOutcome | None]:
    """Name the SIT by its first two tones (ANSI T1.401): IC/VC -> invalid number,
    RO/NC -> network error."""
    first_high = triple[0].freq_hz > 950.0
    second_high = triple[1].freq_hz > 1400.0
    name = {
        (False, False): "intercept",
        (True, False): "vacant code",
        (False, True): "reorder",
        (True, True): "no circuit",
    }[(first_high, second_high)]
    outcome = CallOutcome.INVALID_NUMBER if not second_high else CallOutcome.NETWORK_ERROR
    return name, outcome


class EarlyMediaDetector:
    """Spots SIT and carrier phrases in early media; ``feed`` returns the first one found."""

    def __init__(self, phrase_spotter: PhraseSpotter | None = None) -> None:
        self.tones = ToneTracker()
        self.phrase_spotter = phrase_spotter
        self.reset()

    def reset(self) -> None:
        self.tones.reset()
        if self.phrase_spotter is not None:
            self.phrase_spotter.reset()
        self._segments: list[ToneSegment] = []
        self._heard_ms = 0.0
        self.announcement: Announcement | None = None

    def feed(self, chunk: AudioChunk) -> Announcement | None:
        if self.announcement is not None:
            return self.announcement
        if chunk.rate != TELEPHONY_RATE_HZ:
            chunk = chunk.resampled(TELEPHONY_RATE_HZ)
        chunk = AudioChunk(chunk.pcm, chunk.rate, self._heard_ms)
        self._heard_ms += chunk.duration_ms
        for segment in self.tones.process(chunk):
            self._segments.append(segment)
            if is_sit_sequence(self._segments):
                name, outcome = sit_outcome(self._segments[-3:])
                self.announcement = Announcement(self._heard_ms, f"SIT tone ({name})", outcome)
                return self.announcement
        if self.phrase_spotter is not None:
            for hit in self.phrase_spotter.process(chunk):
                outcome = PHRASE_OUTCOMES.get(hit.phrase)
                self.announcement = Announcement(self._heard_ms, f'phrase "{hit.phrase}"', outcome)
                return self.announcement
        return None


class BeepWaiter:
    """After a machine verdict: tells when to start leaving a message.

    ``feed`` returns the time (ms since the waiter started) once a beep has ended, or once
    the greeting has been silent for ``quiet_ms`` with no beep, or after ``max_wait_ms``.
    """

    def __init__(
        self,
        *,
        quiet_ms: float = 2500.0,
        max_wait_ms: float = 30000.0,
        beep_min_ms: float = 160.0,
        beep_hz: tuple[float, float] = (350.0, 3000.0),
        vad: VoiceActivityDetector | None = None,
    ) -> None:
        self.quiet_ms = quiet_ms
        self.max_wait_ms = max_wait_ms
        self.beep_min_ms = beep_min_ms
        self.beep_hz = beep_hz
        self.vad = vad or create_vad("silero")
        self.tones = ToneTracker()
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self.tones.reset()
        self._heard_ms = 0.0
        self._last_speech_ms = 0.0
        self.reason: str | None = None

    def feed(self, chunk: AudioChunk) -> float | None:
        if chunk.rate != TELEPHONY_RATE_HZ:
            chunk = chunk.resampled(TELEPHONY_RATE_HZ)
        chunk = AudioChunk(chunk.pcm, chunk.rate, self._heard_ms)
        self._heard_ms += chunk.duration_ms
        low, high = self.beep_hz
        for segment in self.tones.process(chunk):
            if segment.duration_ms >= self.beep_min_ms and low <= segment.freq_hz <= high:
                self.reason = f"beep {segment.freq_hz:.0f} Hz {segment.duration_ms:.0f} ms ended"
                return self._heard_ms
        for frame in self.vad.process(chunk):
            if frame.is_speech:
                self._last_speech_ms = frame.end_ms
        if self.tones.ongoing() is None and self._heard_ms - self._last_speech_ms >= self.quiet_ms:
            self.reason = f"no beep; quiet for {self.quiet_ms / 1000:.1f} s"
            return self._heard_ms
        if self._heard_ms >= self.max_wait_ms:
            self.reason = f"no beep within {self.max_wait_ms / 1000:.0f} s"
            return self._heard_ms
        return None
