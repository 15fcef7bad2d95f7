"""Several tracks (one per call leg) written to one WAV file as their audio arrives.

The tracks are placed on one timeline by arrival time: a track that fell silent (no packets)
is filled with silence, so the channels stay aligned, and the file is written as it goes
(memory stays small however long the call).
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk

#: A track this far behind the timeline (no packets) is filled with silence, in samples.
SLACK_SAMPLES = TELEPHONY_RATE_HZ // 5

Clock = Callable[[], float]


class TrackWriter:
    """Tracks (one per leg) written to one WAV file as they arrive.

    With 2 tracks and ``channels=2`` each track is its channel; with ``channels=1`` the tracks
    are summed (clipped once). ``clock`` gives seconds (the event loop's time by default).
    """

    def __init__(
        self, path: Path, tracks: int, channels: int, *, clock: Clock | None = None
    ) -> None:
        if channels not in (1, tracks):
            raise ValueError("channels must be 1 (mixed) or one per track")
        self.path = path
        self.channels = channels
        self._clock = clock or asyncio.get_running_loop().time
        self._start = self._clock()
        self._pending = [np.zeros(0, dtype=np.int16) for _ in range(tracks)]
        self._written = 0
        self._wav: wave.Wave_write | None = wave.open(str(path), "wb")  # noqa: SIM115
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(TELEPHONY_RATE_HZ)

    @property
    def written_samples(self) -> int:
        return self._written

    def _now(self) -> int:
        return round((self._clock() - self._start) * TELEPHONY_RATE_HZ)

    def _fill(self, track: int, upto: int) -> None:
        have = self._written + len(self._pending[track])
        if upto > have:
            self._pending[track] = np.concatenate(
                [self._pending[track], np.zeros(upto - have, dtype=np.int16)]
            )

    def push(self, track: int, chunk: AudioChunk) -> None:
        """Audio received on ``track``'s leg just now."""
        if self._wav is None:
            return
        samples = chunk.resampled(TELEPHONY_RATE_HZ).to_array().astype(np.int16)
        now = self._now()
        # The chunk ended now. A track more than the slack behind that (packets that never
        # came) gets silence up to where the chunk began; less is jitter, taken as it is.
        start = now - len(samples)
        if self._written + len(self._pending[track]) < start - SLACK_SAMPLES:
            self._fill(track, start)
        self._pending[track] = np.concatenate([self._pending[track], samples])
        # A track that sends nothing is silence, written a little later (it may be jitter).
        for other in range(len(self._pending)):
            if other != track:
                self._fill(other, now - 2 * SLACK_SAMPLES)
        self._flush()

    def _flush(self) -> None:
        assert self._wav is not None
        count = min(len(p) for p in self._pending)
        if count == 0:
            return
        parts = [p[:count] for p in self._pending]
        self._pending = [p[count:] for p in self._pending]
        if self.channels == 1:
            mixed = np.sum(np.stack(parts).astype(np.int32), axis=0)
            out = np.clip(mixed, -32768, 32767).astype("<i2")
        else:
            out = np.stack(parts, axis=1).astype("<i2")
        self._wav.writeframes(out.tobytes())
        self._written += count

    def close(self) -> None:
        """Fill every track up to now and finish the file."""
        if self._wav is None:
            return
        end = max(self._now(), *(self._written + len(p) for p in self._pending))
        for track in range(len(self._pending)):
            self._fill(track, end)
        self._flush()
        self._wav.close()
        self._wav = None
