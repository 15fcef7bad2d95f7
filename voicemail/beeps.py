"""Beeps and SIT from the tone segments of :class:`~voicemail.tones.ToneTracker`.

A *beep* is one pure tone of ``beep_min_ms`` or more between ``beep_min_hz`` and
``beep_max_hz``, whatever its frequency, level or the noise around it: the strongest sign of a
machine there is. A *SIT* is three tones rising through the E.180 bands (913.8/985.2,
1370.6/1428.5, 1776.7 Hz), each 274-380 ms, at most ``sit_gap_ms`` apart.

Beeps often sit in a SIT band (1000 Hz and 1400 Hz are the most common voicemail beeps), so a
tone is only *held back* while it may still be the start of a SIT: a tone in the first band
waits for its end plus ``sit_gap_ms`` to see whether the second follows; a tone in the second
band waits likewise only when the first band came just before it (and the third band when
the second did). A tone longer than any SIT
segment (``sit_max_ms``), or one that no SIT could continue, is a beep at once.
:meth:`ToneJudge.pending` tells the detector to hold any "human" verdict while that is open.
"""

from __future__ import annotations

from collections.abc import Callable

from voicemail.settings import DetectorSettings, Verdict
from voicemail.timeline import Timeline
from voicemail.tones import ToneSegment, ToneTracker, goertzel_power, is_sit_sequence, sit_band

#: No SIT segment lasts longer than this (ms; E.180 allows 274 or 380 ms, plus slack).
SIT_MAX_MS = 450.0
#: A tone shorter than ``beep_sure_ms`` must not follow speech closer than this (ms).
SHORT_TONE_MARGIN_MS = 60.0


class ToneJudge:
    """Decides beep / SIT from finished and ongoing tones; logs every tone to a timeline."""

    def __init__(
        self,
        settings: DetectorSettings,
        tracker: ToneTracker,
        timeline: Timeline,
        speech_overlap_ms: Callable[[float, float], float] | None = None,
    ) -> None:
        self.settings = settings
        #: How much of a stretch the VAD heard as speech: a short "tone" inside speech is a
        #: vowel, not a beep.
        self.speech_overlap_ms = speech_overlap_ms or (lambda start, end: 0.0)
        self.tracker = tracker
        self.timeline = timeline
        self.reset()

    def reset(self) -> None:
        self.segments: list[ToneSegment] = []
        self._judged = 0  # segments already judged (beep or not)

    # -- what is a beep ---------------------------------------------------------------------

    def _beep_like(self, segment: ToneSegment, purity: float) -> bool:
        s = self.settings
        # A short tone touching speech is the tail of a vowel, not a beep.
        if segment.duration_ms < s.beep_sure_ms and self.speech_overlap_ms(
            segment.start_ms - SHORT_TONE_MARGIN_MS, segment.start_ms
        ):
            return False
        return (
            s.beep_min_hz <= segment.freq_hz <= s.beep_max_hz
            and segment.duration_ms >= s.beep_min_ms
            and purity >= s.beep_min_purity
        )

    def _short_tone_waits(self, ongoing: ToneSegment) -> bool:
        """A short tone still playing: wait until it is long enough to be sure, or ends."""
        return ongoing.duration_ms < self.settings.beep_sure_ms

    def _may_start_sit(self, segment: ToneSegment, before: ToneSegment | None) -> bool:
        """True when ``segment`` may still be part of a SIT that is not over yet."""
        if not self.settings.sit or segment.duration_ms > SIT_MAX_MS:
            return False
        band = sit_band(segment.freq_hz)
        if band == 0:
            return True
        if band in (1, 2) and before is not None:
            gap = segment.start_ms - before.end_ms
            return sit_band(before.freq_hz) == band - 1 and gap <= self.settings.sit_gap_ms
        return False

    @staticmethod
    def _beep(segment: ToneSegment, at_ms: float) -> Verdict:
        reason = f"beep {segment.freq_hz:.0f} Hz {segment.duration_ms:.0f} ms"
        return Verdict("machine", at_ms, reason, "beep")

    def _previous(self) -> ToneSegment | None:
        return self.segments[-1] if self.segments else None

    # -- streaming --------------------------------------------------------------------------

    def update(
        self, finished: list[ToneSegment], now_ms: float, final: bool = False
    ) -> Verdict | None:
        """A verdict once a beep or a SIT is certain, else None."""
        s = self.settings
        for segment in finished:
            self.segments.append(segment)
            self.timeline.add(
                segment.end_ms,
                "tone",
                f"{segment.freq_hz:.0f} Hz {segment.start_ms / 1000:.2f}-"
                f"{segment.end_ms / 1000:.2f} s ({segment.duration_ms:.0f} ms, "
                f"{segment.level_dbfs:.0f} dBFS, purity {segment.purity:.2f})",
            )
            if s.sit and is_sit_sequence(self.segments, max_gap_ms=s.sit_gap_ms):
                return Verdict("machine", segment.end_ms, "SIT tone", "sit")
        ongoing = self.tracker.ongoing()
        if s.sit and ongoing is not None and len(self.segments) >= 2:
            last_two = [sit_band(x.freq_hz) for x in self.segments[-2:]]
            if last_two == [0, 1] and sit_band(ongoing.freq_hz) == 2 and ongoing.duration_ms >= 200:
                return Verdict("machine", now_ms, "SIT tone", "sit")
        # Finished tones not judged yet: a beep once no SIT can follow them.
        while self._judged < len(self.segments):
            index = self._judged
            segment = self.segments[index]
            before = self.segments[index - 1] if index else None
            waiting = now_ms - segment.end_ms < s.sit_gap_ms and ongoing is None
            if (
                not final
                and self._may_start_sit(segment, before)
                and (waiting or self._continues_sit(segment, index, ongoing))
            ):
                break  # the next SIT tone may be coming (or is playing): wait
            self._judged += 1
            if self._beep_like(segment, segment.purity) and not self._in_sit(index):
                return self._beep(segment, now_ms)
        if (
            ongoing is not None
            and ongoing.duration_ms >= s.beep_min_ms
            and not self._short_tone_waits(ongoing)
            and not self._may_start_sit(ongoing, self._previous())
            and self._beep_like(ongoing, self._ongoing_purity(ongoing))
        ):
            return self._beep(ongoing, now_ms)
        return None

    def _continues_sit(self, segment: ToneSegment, index: int, ongoing: ToneSegment | None) -> bool:
        """A later tone (finished or playing) is the next SIT tone after ``segment``."""
        later = self.segments[index + 1 : index + 2] or ([ongoing] if ongoing else [])
        if not later:
            return False
        nxt = later[0]
        band, next_band = sit_band(segment.freq_hz), sit_band(nxt.freq_hz)
        gap = nxt.start_ms - segment.end_ms
        return (
            band is not None
            and next_band == band + 1
            and gap <= self.settings.sit_gap_ms
            and (index + 1 < len(self.segments) or nxt.duration_ms <= SIT_MAX_MS)
        )

    def _in_sit(self, index: int) -> bool:
        """The segment at ``index`` belongs to a SIT triple heard in full."""
        for first in range(max(0, index - 2), index + 1):
            triple = self.segments[first : first + 3]
            if len(triple) == 3 and is_sit_sequence(triple, max_gap_ms=self.settings.sit_gap_ms):
                return True
        return False

    def pending(self) -> bool:
        """A tone is playing, or one ended so recently that it may still be a beep or a SIT."""
        return self.tracker.ongoing() is not None or self._judged < len(self.segments)

    def _ongoing_purity(self, ongoing: ToneSegment) -> float:
        audio = self.tracker.ongoing_audio()
        return goertzel_power(audio, ongoing.freq_hz) if len(audio) else 0.0
