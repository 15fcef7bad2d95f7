"""The evidence a detector gathered, in stream order, for ``voicemail detect --explain``.

:class:`Timeline` keeps one :class:`Evidence` per thing worth telling a person who asks why a
verdict was reached: each stretch of speech the VAD heard, each tone, each reading of the
greeting and what its words pointed to, each cadence call that was held back or taken, and
the verdict. Entries are few (a handful per second of audio), so a detector always keeps one.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where a piece of evidence came from.
SOURCES = ("level", "vad", "tone", "read", "cadence", "verdict")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One entry: ``at_ms`` (stream time after answer, the end of what it describes)."""

    at_ms: float
    source: str
    text: str

    def line(self) -> str:
        return f"{self.at_ms / 1000:7.2f} s  {self.source:<8} {self.text}"


class Timeline:
    """Evidence in the order it was found."""

    def __init__(self) -> None:
        self.entries: list[Evidence] = []

    def reset(self) -> None:
        self.entries = []

    def add(self, at_ms: float, source: str, text: str) -> None:
        self.entries.append(Evidence(at_ms, source, text))

    def lines(self) -> list[str]:
        return [entry.line() for entry in self.entries]

    def of(self, source: str) -> list[Evidence]:
        return [entry for entry in self.entries if entry.source == source]


class SpeechSpans:
    """Turns VAD frames into "speech from .. to .." entries of a :class:`Timeline`."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.reset()

    def reset(self) -> None:
        self._start_ms: float | None = None
        self._end_ms = 0.0
        self._peak = 0.0
        self.spans: list[tuple[float, float]] = []

    def overlap_ms(self, start_ms: float, end_ms: float) -> float:
        """How much of ``start_ms``..``end_ms`` was speech (spans heard so far)."""
        spans = [*self.spans[-8:]]
        if self._start_ms is not None:
            spans.append((self._start_ms, self._end_ms))
        return sum(max(0.0, min(end_ms, b) - max(start_ms, a)) for a, b in spans)

    def frame(self, start_ms: float, end_ms: float, prob: float, is_speech: bool) -> None:
        if is_speech:
            if self._start_ms is None:
                self._start_ms, self._peak = start_ms, 0.0
            self._end_ms = end_ms
            self._peak = max(self._peak, prob)
        elif self._start_ms is not None:
            self.close()

    def close(self) -> None:
        if self._start_ms is None:
            return
        length = self._end_ms - self._start_ms
        self.spans.append((self._start_ms, self._end_ms))
        self.timeline.add(
            self._end_ms,
            "vad",
            f"speech {self._start_ms / 1000:.2f}-{self._end_ms / 1000:.2f} s "
            f"({length:.0f} ms, peak p {self._peak:.2f})",
        )
        self._start_ms = None
