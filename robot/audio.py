"""Audio chunks and conversions.

Audio that crosses a module boundary is 16-bit signed little-endian mono PCM with its sample
rate attached. The telephony side is 8 kHz; every engine resamples at its own edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TELEPHONY_RATE_HZ = 8000
SAMPLE_WIDTH_BYTES = 2
FRAME_MS = 20


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of 16-bit mono PCM audio that knows its own rate."""

    pcm: bytes
    rate: int = TELEPHONY_RATE_HZ
    #: Position of the first sample on the call's timeline, in ms (None when unknown).
    timestamp_ms: float | None = None

    @property
    def samples(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH_BYTES

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples / self.rate

    def to_array(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    def to_float(self) -> np.ndarray:
        return self.to_array().astype(np.float32) / 32768.0

    @classmethod
    def from_array(
        cls, samples: np.ndarray, rate: int, timestamp_ms: float | None = None
    ) -> AudioChunk:
        if samples.dtype.kind == "f":
            samples = np.clip(samples * 32768.0, -32768, 32767)
        return cls(samples.astype("<i2").tobytes(), rate, timestamp_ms)

    def resampled(self, rate: int) -> AudioChunk:
        if rate == self.rate:
            return self
        return AudioChunk(resample(self.pcm, self.rate, rate), rate, self.timestamp_ms)

    def frames(self, frame_ms: int = FRAME_MS) -> list[AudioChunk]:
        """Split into frames of ``frame_ms``; the last one is zero-padded."""
        size = self.rate * frame_ms // 1000 * SAMPLE_WIDTH_BYTES
        out = []
        for i, start in enumerate(range(0, len(self.pcm), size)):
            piece = self.pcm[start : start + size]
            if len(piece) < size:
                piece = piece + b"\x00" * (size - len(piece))
            ts = None if self.timestamp_ms is None else self.timestamp_ms + i * frame_ms
            out.append(AudioChunk(piece, self.rate, ts))
        return out


def silence(duration_ms: float, rate: int = TELEPHONY_RATE_HZ) -> AudioChunk:
    return AudioChunk(b"\x00\x00" * int(rate * duration_ms / 1000), rate)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample 16-bit mono PCM in one go (soxr, high quality)."""
    if from_rate == to_rate or not pcm:
        return pcm
    import soxr

    data = np.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(data, from_rate, to_rate)
    return np.asarray(out, dtype="<i2").tobytes()


class StreamResampler:
    """Resample a stream chunk by chunk without clicks at chunk borders."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        import soxr

        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16")
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        data = np.frombuffer(pcm, dtype="<i2")
        return np.asarray(self._stream.resample_chunk(data, last=last), dtype="<i2").tobytes()


def read_wav(path: str | Path, rate: int | None = None) -> AudioChunk:
    """Read any soundfile-readable file as mono 16-bit PCM (mixed down, resampled if asked).

    The file is checked first (:func:`robot.audio_files.read_audio_file`): a malformed,
    truncated or over-long file raises ``AudioFileError`` naming it.
    """
    from robot.audio_files import read_audio_file

    data, file_rate = read_audio_file(path)
    chunk = mono_chunk(data, file_rate)
    return chunk.resampled(rate) if rate else chunk


def mono_chunk(data: np.ndarray, rate: int) -> AudioChunk:
    """int16 samples shaped (frames, channels) as one mono chunk (channels averaged)."""
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1).astype("<i2")
    return AudioChunk(mono.astype("<i2").tobytes(), int(rate))


def write_wav(path: str | Path, chunk: AudioChunk) -> None:
    import soundfile as sf

    sf.write(str(path), chunk.to_array(), chunk.rate, subtype="PCM_16")
