"""Pure-tone evidence: answering-machine beeps and Special Information Tones (SIT).

:class:`ToneTracker` analyses 40 ms Hann windows every 20 ms of 8 kHz audio. A window is
*tonal* when one spectral peak in the telephone band holds most of its energy (``tonality``,
0..1: energy within +/-60 Hz of the peak over the window's total). Consecutive tonal windows
whose peak stays within ``max_drift_hz`` form a :class:`ToneSegment`. Speech never holds one
partial that steadily: its energy spreads over several harmonics and its pitch moves.

A *beep* is a segment of ``beep_min_ms`` or more between ``beep_min_hz`` and ``beep_max_hz``.
A *SIT* (ITU-T E.180 / ANSI T1.401) is three short segments rising through the bands around
913.8/985.2, 1370.6/1428.5 and 1776.7 Hz; each is confirmed with a Goertzel filter at its
measured frequency.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from robot.audio import AudioChunk

RATE_HZ = 8000
WINDOW_SAMPLES = 320  # 40 ms
HOP_SAMPLES = 160  # 20 ms
FFT_SIZE = 2048
#: (low, high) Hz of the three SIT segments, and their nominal frequencies.
SIT_BANDS_HZ = ((890.0, 1010.0), (1350.0, 1450.0), (1750.0, 1800.0))
SIT_NOMINAL_HZ = ((913.8, 985.2), (1370.6, 1428.5), (1776.7,))


@dataclass(frozen=True, slots=True)
class ToneSegment:
    """A sustained pure tone: where it was, its mean frequency (Hz) and level (dBFS)."""

    start_ms: float
    end_ms: float
    freq_hz: float
    level_dbfs: float
    #: Share of the segment's energy the Goertzel filter at ``freq_hz`` found (0..1).
    purity: float = 1.0

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def goertzel_power(samples: np.ndarray, freq_hz: float, rate_hz: int = RATE_HZ) -> float:
    """Power of ``samples`` at ``freq_hz`` (Goertzel), normalised to the signal's energy (0..~1)."""
    n = len(samples)
    if n == 0:
        return 0.0
    x = samples.astype(np.float64)
    coeff = 2.0 * math.cos(2.0 * math.pi * freq_hz / rate_hz)
    s_prev = s_prev2 = 0.0
    for value in x:
        s = value + coeff * s_prev - s_prev2
        s_prev2, s_prev = s_prev, s
    power = s_prev2**2 + s_prev**2 - coeff * s_prev * s_prev2
    energy = float(np.dot(x, x))
    return 0.0 if energy <= 0 else float(2.0 * power / (n * energy))


class ToneTracker:
    """Streams 8 kHz audio and reports finished :class:`ToneSegment` s."""

    def __init__(
        self,
        *,
        min_tonality: float = 0.8,
        min_level_dbfs: float = -45.0,
        max_drift_hz: float = 30.0,
        min_segment_ms: float = 60.0,
        band_hz: tuple[float, float] = (300.0, 3400.0),
    ) -> None:
        self.min_tonality = min_tonality
        self.min_level_dbfs = min_level_dbfs
        self.max_drift_hz = max_drift_hz
        self.min_segment_ms = min_segment_ms
        self.band_hz = band_hz
        self._window = np.hanning(WINDOW_SAMPLES).astype(np.float64)
        freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / RATE_HZ)
        self._freqs = freqs
        self._in_band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
        self._bin_hz = RATE_HZ / FFT_SIZE
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._windows_done = 0
        self._run: list[tuple[float, float]] = []  # (freq_hz, level_dbfs) per tonal window
        self._run_start_ms = 0.0
        self._run_audio: list[np.ndarray] = []
        self._origin_ms: float | None = None

    def _analyse(self, frame: np.ndarray) -> tuple[float, float, float]:
        """(peak Hz, tonality 0..1, level dBFS) of one 40 ms window."""
        rms = float(np.sqrt(np.mean(frame**2))) + 1e-12
        level = 20.0 * math.log10(rms)
        spectrum = np.abs(np.fft.rfft(frame * self._window, FFT_SIZE)) ** 2
        band = np.where(self._in_band, spectrum, 0.0)
        peak = int(np.argmax(band))
        total = float(spectrum.sum()) + 1e-20
        half_width = int(60.0 / self._bin_hz)
        near = float(spectrum[max(0, peak - half_width) : peak + half_width + 1].sum())
        if 0 < peak < len(spectrum) - 1:
            a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-20)
            offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        else:
            offset = 0.0
        return (peak + offset) * self._bin_hz, near / total, level

    def process(self, chunk: AudioChunk) -> list[ToneSegment]:
        """Feed audio; return the tone segments that ended inside it."""
        if chunk.rate != RATE_HZ:
            chunk = chunk.resampled(RATE_HZ)
        if self._origin_ms is None:
            self._origin_ms = chunk.timestamp_ms or 0.0
        self._pending = np.concatenate([self._pending, chunk.to_float().astype(np.float64)])
        done: list[ToneSegment] = []
        while len(self._pending) >= WINDOW_SAMPLES:
            frame = self._pending[:WINDOW_SAMPLES]
            start_ms = self._origin_ms + self._windows_done * HOP_SAMPLES * 1000.0 / RATE_HZ
            self._windows_done += 1
            freq, tonality, level = self._analyse(frame)
            tonal = tonality >= self.min_tonality and level >= self.min_level_dbfs
            if tonal and self._run and abs(freq - self._run_freq()) > self.max_drift_hz:
                done.extend(self._close_run())
            if tonal:
                if not self._run:
                    self._run_start_ms = start_ms
                self._run.append((freq, level))
                self._run_audio.append(frame[:HOP_SAMPLES].copy())
            elif self._run:
                done.extend(self._close_run())
            self._pending = self._pending[HOP_SAMPLES:]
        return done

    def _run_freq(self) -> float:
        return float(np.median([f for f, _ in self._run[-5:]]))

    def ongoing(self) -> ToneSegment | None:
        """The tone being heard right now, if any (its end is the latest analysed window)."""
        if not self._run:
            return None
        return self._segment()

    def ongoing_audio(self) -> np.ndarray:
        """Samples of the tone being heard right now (empty when none), as floats."""
        if not self._run_audio:
            return np.zeros(0)
        return np.concatenate(self._run_audio)

    def _segment(self) -> ToneSegment:
        # Each window spans 40 ms with a 20 ms hop: n windows cover (n + 1) * 20 ms.
        end_ms = self._run_start_ms + (len(self._run) + 1) * HOP_SAMPLES * 1000.0 / RATE_HZ
        freq = float(np.median([f for f, _ in self._run]))
        level = float(np.mean([lv for _, lv in self._run]))
        return ToneSegment(self._run_start_ms, end_ms, freq, level)

    def _close_run(self) -> list[ToneSegment]:
        segment = self._segment()
        audio = np.concatenate(self._run_audio) if self._run_audio else np.zeros(0)
        self._run = []
        self._run_audio = []
        if segment.duration_ms < self.min_segment_ms:
            return []
        purity = goertzel_power(audio, segment.freq_hz)
        return [
            ToneSegment(
                segment.start_ms, segment.end_ms, segment.freq_hz, segment.level_dbfs, purity
            )
        ]

    def flush(self) -> list[ToneSegment]:
        """End of stream: close the tone still running, if any."""
        return self._close_run() if self._run else []


def sit_band(freq_hz: float) -> int | None:
    """Which SIT segment (0, 1, 2) a frequency belongs to, or None."""
    for index, (low, high) in enumerate(SIT_BANDS_HZ):
        if low <= freq_hz <= high:
            return index
    return None


def is_sit_sequence(
    segments: list[ToneSegment], *, max_gap_ms: float = 120.0, min_ms: float = 200.0
) -> bool:
    """True when the last three segments are a rising SIT triple (ITU-T E.180)."""
    if len(segments) < 3:
        return False
    triple = segments[-3:]
    if [sit_band(s.freq_hz) for s in triple] != [0, 1, 2]:
        return False
    if any(s.duration_ms < min_ms or s.duration_ms > 450.0 for s in triple):
        return False
    gaps = [b.start_ms - a.end_ms for a, b in itertools.pairwise(triple)]
    return all(gap <= max_gap_ms for gap in gaps)
