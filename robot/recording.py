"""Call recordings: a stereo WAV per call, left = callee, right = robot, aligned in time.

The callee channel is the carrier's continuous 20 ms frames, so its length is the call's
timeline. Robot audio is queued ahead of time and sent by the carrier in real time, so each
robot chunk is placed where the carrier will send it: right after the previous robot audio,
but never before "now" on the callee timeline. A barge-in truncates the robot channel at the
moment playback stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot.audio import SAMPLE_WIDTH_BYTES, TELEPHONY_RATE_HZ, AudioChunk


class CallRecorder:
    def __init__(self, rate: int = TELEPHONY_RATE_HZ) -> None:
        self.rate = rate
        self._callee = bytearray()
        #: Robot chunks as (start sample, pcm).
        self._robot: list[tuple[int, bytes]] = []
        self._robot_end = 0

    @property
    def position_ms(self) -> float:
        """Length of the callee timeline so far."""
        return 1000.0 * len(self._callee) / SAMPLE_WIDTH_BYTES / self.rate

    def add_callee(self, frame: AudioChunk) -> None:
        self._callee += frame.resampled(self.rate).pcm

    def add_robot(self, chunk: AudioChunk) -> float:
        """Place robot audio after what is already queued; return its start in ms."""
        pcm = chunk.resampled(self.rate).pcm
        now = len(self._callee) // SAMPLE_WIDTH_BYTES
        start = max(now, self._robot_end)
        self._robot.append((start, pcm))
        self._robot_end = start + len(pcm) // SAMPLE_WIDTH_BYTES
        return 1000.0 * start / self.rate

    def stop_robot(self) -> None:
        """Playback was cut off now: drop robot audio scheduled after this point."""
        now = len(self._callee) // SAMPLE_WIDTH_BYTES
        kept = []
        for start, pcm in self._robot:
            if start >= now:
                continue
            end = start + len(pcm) // SAMPLE_WIDTH_BYTES
            if end > now:
                pcm = pcm[: (now - start) * SAMPLE_WIDTH_BYTES]
            kept.append((start, pcm))
        self._robot = kept
        self._robot_end = min(self._robot_end, now)

    def channels(self) -> tuple[np.ndarray, np.ndarray]:
        """(callee, robot) as int16 arrays of equal length."""
        callee = np.frombuffer(bytes(self._callee), dtype="<i2")
        length = max(len(callee), self._robot_end)
        left = np.zeros(length, dtype="<i2")
        left[: len(callee)] = callee
        right = np.zeros(length, dtype="<i2")
        for start, pcm in self._robot:
            data = np.frombuffer(pcm, dtype="<i2")
            right[start : start + len(data)] = data
        return left, right

    def write(self, path: str | Path) -> Path:
        import soundfile as sf

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        left, right = self.channels()
        sf.write(str(path), np.stack([left, right], axis=1), self.rate, subtype="PCM_16")
        return path


def read_recording(path: str | Path) -> tuple[AudioChunk, AudioChunk]:
    """A stereo call recording as (callee, robot) chunks (checked: ``AudioFileError``)."""
    from robot.audio_files import read_audio_file

    data, rate = read_audio_file(path)
    if data.shape[1] < 2:
        mono = AudioChunk(data[:, 0].astype("<i2").tobytes(), int(rate))
        return mono, AudioChunk(b"", int(rate))
    return (
        AudioChunk(data[:, 0].astype("<i2").tobytes(), int(rate)),
        AudioChunk(data[:, 1].astype("<i2").tobytes(), int(rate)),
    )
