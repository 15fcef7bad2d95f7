"""Level control in front of the voice activity detector.

Silero VAD v6 misses loud telephone-band speech: a greeting band-passed to 300-3400 Hz whose
20 ms frames peak near -20 dBFS RMS scores below 0.3 on most frames, while the same audio
20 dB quieter scores 0.7-0.9. Callee audio arrives at any level (carriers, handsets and
voicemail systems differ by 30 dB), so the detector attenuates it before the VAD to a peak
frame level of ``target_peak_dbfs`` for a second VAD, and counts a frame as speech when either
VAD hears it (the turned-down one misses the loud onset of a first word, which the other
keeps). :class:`LevelLimiter` is a peak follower with a fast attack and slow release that
only ever attenuates: quiet audio and noise are never raised. Tones and the greeting reader
see the audio as it came.
"""

from __future__ import annotations

import math

import numpy as np

from robot.audio import AudioChunk


class LevelLimiter:
    """Attenuates a stream so that its loudest recent 20 ms frames sit near a target level."""

    def __init__(
        self,
        target_peak_dbfs: float = -34.0,
        *,
        release_db_per_s: float = 6.0,
        attack: float = 0.3,
        max_gain_db: float = 0.0,
        frame_ms: float = 20.0,
    ) -> None:
        self.target = 10 ** (target_peak_dbfs / 20)
        self.release_per_frame = 10 ** (-release_db_per_s * frame_ms / 1000 / 20)
        self.attack = attack
        self.max_gain = 10 ** (max_gain_db / 20)
        self.frame_ms = frame_ms
        self.reset()

    def reset(self) -> None:
        self._peak = 0.0
        self.gain = 1.0

    def process(self, chunk: AudioChunk) -> AudioChunk:
        """The chunk attenuated frame by frame (same rate, length and timestamp)."""
        samples = chunk.to_float().astype(np.float64)
        step = max(1, int(chunk.rate * self.frame_ms / 1000))
        out = np.empty_like(samples)
        for start in range(0, len(samples), step):
            frame = samples[start : start + step]
            rms = math.sqrt(float(np.mean(frame**2))) if len(frame) else 0.0
            if rms > self._peak:
                self._peak += (rms - self._peak) * self.attack
            else:
                self._peak = max(rms, self._peak * self.release_per_frame)
            self.gain = min(self.max_gain, self.target / self._peak) if self._peak > 0 else 1.0
            out[start : start + step] = frame * self.gain
        return AudioChunk.from_array(out.astype(np.float32), chunk.rate, chunk.timestamp_ms)

    @property
    def gain_db(self) -> float:
        return 20 * math.log10(self.gain) if self.gain > 0 else -120.0
