"""Speech cadence after answer, in the manner of Asterisk's AMD().

People answer with a short "hello?" (0.3-1.2 s) and then wait for the caller; answering
machines talk for several seconds without a long pause. :class:`CadenceTracker` turns VAD
frames into that picture: initial silence, greeting length (from the first word to now while
pauses stay shorter than ``after_greeting_silence_ms``), number of words (speech bursts of at
least ``min_word_ms`` split by ``between_words_silence_ms``) and the silence after the greeting.
It reports a :class:`CadenceCall` when the cadence alone decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.vad import VadFrame


@dataclass(frozen=True, slots=True)
class CadenceLimits:
    """The AMD-style thresholds (all in ms except counts; 0 disables a limit).

    These defaults are the classic AMD-like ones; :class:`~voicemail.detector.DetectorSettings`
    holds the values tuned on the development set and passes them in.
    """

    initial_silence_ms: float = 2500.0
    min_word_ms: float = 100.0
    between_words_silence_ms: float = 150.0
    max_greeting_ms: float = 2000.0
    after_greeting_silence_ms: float = 700.0
    max_words: int = 0
    #: A greeting this short (a bare "hello?") needs only ``short_greeting_silence_ms``.
    short_greeting_ms: float = 0.0
    short_greeting_silence_ms: float = 500.0
    #: Speech shorter than this is the first word of something ("Hey, ..."), not a whole
    #: hello: it needs the full ``after_greeting_silence_ms``.
    min_short_greeting_ms: float = 0.0
    #: People introducing themselves say one or two phrases; machines read several sentences.
    #: When set, a greeting over ``max_greeting_ms`` is a machine only once it contains
    #: ``min_sentence_pauses`` pauses of ``sentence_pause_ms`` or more, or once it exceeds
    #: this length.
    max_continuous_greeting_ms: float = 0.0
    sentence_pause_ms: float = 350.0
    min_sentence_pauses: int = 1
    #: Pauses this long or longer are also counted apart (``long_pauses``): a person
    #: introducing themselves rarely stops for half a second twice.
    long_pause_ms: float = 500.0


@dataclass(frozen=True, slots=True)
class CadenceCall:
    """What the cadence says: ``kind`` is ``human``, ``machine`` or ``initial_silence``."""

    kind: str
    at_ms: float
    reason: str
    #: Which limit made a machine call: ``sentences``, ``continuous`` or ``words``.
    rule: str = ""


def _s(ms: float) -> str:
    return f"{ms / 1000:.1f} s"


class CadenceTracker:
    """Feeds on :class:`VadFrame` s; ``update`` returns a call once the cadence decides."""

    def __init__(self, limits: CadenceLimits | None = None) -> None:
        self.limits = limits or CadenceLimits()
        self.reset()

    def reset(self) -> None:
        self.now_ms = 0.0
        self.greeting_start_ms: float | None = None
        self.last_speech_end_ms: float | None = None
        self.words = 0
        self.sentence_pauses = 0
        self.long_pauses = 0
        self._burst_start_ms: float | None = None
        self._burst_end_ms: float | None = None
        self._counted_burst = False

    @property
    def in_greeting(self) -> bool:
        return self.greeting_start_ms is not None

    @property
    def greeting_ms(self) -> float:
        if self.greeting_start_ms is None or self.last_speech_end_ms is None:
            return 0.0
        return self.last_speech_end_ms - self.greeting_start_ms

    @property
    def speaking(self) -> bool:
        """The latest frame was speech (maybe a word too young to count yet)."""
        return self._burst_end_ms is not None and self._burst_end_ms >= self.now_ms

    @property
    def silence_ms(self) -> float:
        """Silence since the last speech (or since the start when nobody spoke yet)."""
        return self.now_ms - (self.last_speech_end_ms or 0.0)

    def update(self, frame: VadFrame) -> CadenceCall | None:
        limits = self.limits
        self.now_ms = frame.end_ms
        if frame.is_speech:
            if (
                self.greeting_start_ms is not None
                and self._burst_end_ms is not None
                and frame.start_ms - self._burst_end_ms >= limits.sentence_pause_ms
            ):
                self.sentence_pauses += 1
                if frame.start_ms - self._burst_end_ms >= limits.long_pause_ms:
                    self.long_pauses += 1
            if self._burst_start_ms is None or (
                self._burst_end_ms is not None
                and frame.start_ms - self._burst_end_ms >= limits.between_words_silence_ms
            ):
                self._burst_start_ms = frame.start_ms
                self._counted_burst = False
            self._burst_end_ms = frame.end_ms
            if frame.end_ms - self._burst_start_ms >= limits.min_word_ms:
                if not self._counted_burst:
                    self._counted_burst = True
                    self.words += 1
                    if self.greeting_start_ms is None:
                        self.greeting_start_ms = self._burst_start_ms
                if self.greeting_start_ms is not None:
                    self.last_speech_end_ms = frame.end_ms
        if self.greeting_start_ms is None:
            if limits.initial_silence_ms and self.now_ms >= limits.initial_silence_ms:
                return CadenceCall(
                    "initial_silence", self.now_ms, f"initial silence {_s(self.now_ms)}"
                )
            return None
        greeting = self.greeting_ms
        if limits.max_greeting_ms and greeting > limits.max_greeting_ms:
            continuous_limit = limits.max_continuous_greeting_ms
            if not continuous_limit or self.sentence_pauses >= limits.min_sentence_pauses:
                return CadenceCall(
                    "machine",
                    self.now_ms,
                    f"greeting {_s(greeting)} > {_s(limits.max_greeting_ms)}",
                    "sentences",
                )
            if greeting > continuous_limit:
                return CadenceCall(
                    "machine",
                    self.now_ms,
                    f"greeting {_s(greeting)} > {_s(continuous_limit)} in few sentences",
                    "continuous",
                )
        if limits.max_words and self.words > limits.max_words:
            reason = f"{self.words} words > {limits.max_words}"
            return CadenceCall("machine", self.now_ms, reason, "words")
        silence = self.silence_ms
        needed_ms = limits.after_greeting_silence_ms
        if limits.min_short_greeting_ms < greeting <= limits.short_greeting_ms:
            needed_ms = min(needed_ms, limits.short_greeting_silence_ms)
        if silence >= needed_ms:
            return CadenceCall(
                "human",
                self.now_ms,
                f"greeting {_s(greeting)} then silence {_s(silence)}",
            )
        return None
