"""The arithmetic of a conference: mix-minus, a member's jitter buffer, speaking, in-band DTMF.

Pure functions and small classes over 20 ms frames of 8 kHz 16-bit PCM (160 samples); the
conference room (:mod:`robot.control.conference`) calls them once per frame. Codecs are not
seen here: carriers decode G.711 (PCMU or PCMA) to linear PCM at their edge, so legs of
either law mix together.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ

FRAME_SAMPLES = 160
FRAME_BYTES = 2 * FRAME_SAMPLES
SILENT_FRAME = bytes(FRAME_BYTES)


def mix_minus(frames: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What each member hears, and the whole mix (for the recording).

    ``frames`` is ``(members, 160)`` int16, ``heard`` ``(members,)`` bool (False for a muted
    or held member: mixed out). Row ``i`` of the first result is the sum of every heard row
    but ``i``: the sum is taken in int32, the member's own row subtracted, and the result
    clipped to int16 once (never per addition, so loud pairs do not distort the rest).
    """
    wide = frames.astype(np.int32)
    wide[~heard] = 0
    total = wide.sum(axis=0, dtype=np.int32)
    each = total[np.newaxis, :] - wide
    np.clip(each, -32768, 32767, out=each)
    np.clip(total, -32768, 32767, out=total)
    return each.astype(np.int16), total.astype(np.int16)


class MemberBuffer:
    """A small jitter buffer: frames arrive when the network delivers them and leave one per
    tick of the conference clock.

    Frames of any length are cut into 20 ms frames. Output starts once ``depth_frames`` are
    held (40 ms); an empty buffer gives silence and waits for that depth again (``underruns``);
    beyond ``max_frames`` the oldest frame is dropped (``overflows``: the member's clock runs
    faster than the conference's, or the loop stalled).
    """

    def __init__(self, depth_frames: int = 2, max_frames: int = 8) -> None:
        self.depth_frames = depth_frames
        self.max_frames = max_frames
        self._frames: deque[bytes] = deque()
        self._partial = b""
        self._primed = False
        self._dtmf = DtmfSuppressor()
        self.underruns = 0
        self.overflows = 0
        #: Frames silenced because they carried in-band DTMF tones.
        self.dtmf_frames = 0

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, pcm: bytes) -> None:
        data = self._partial + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._partial = data[whole:]
        for start in range(0, whole, FRAME_BYTES):
            frame = data[start : start + FRAME_BYTES]
            if self._dtmf.is_dtmf(frame):
                self.dtmf_frames += 1
                frame = SILENT_FRAME
                if self._frames:  # the tone's onset, still waiting: silence it too
                    self._frames[-1] = SILENT_FRAME
            self._frames.append(frame)
        while len(self._frames) > self.max_frames:
            self._frames.popleft()
            self.overflows += 1

    def pop(self) -> bytes:
        if not self._primed:
            if len(self._frames) < self.depth_frames:
                return SILENT_FRAME
            self._primed = True
        if not self._frames:
            self._primed = False
            self.underruns += 1
            return SILENT_FRAME
        return self._frames.popleft()


def frame_dbfs(frame: np.ndarray) -> float:
    """RMS level of an int16 frame in dB below full scale (-100 for digital silence)."""
    return float(frames_dbfs(frame[np.newaxis, :])[0])


def frames_dbfs(frames: np.ndarray) -> np.ndarray:
    """RMS level of each row of ``frames`` (int16), as :func:`frame_dbfs`."""
    wide = frames.astype(np.float64)
    power = np.einsum("ij,ij->i", wide, wide) / frames.shape[1]
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power / 32768.0**2)
    return np.maximum(levels, -100.0)


class SpeakingDetector:
    """Energy with hangover: speaking starts after ``attack_frames`` loud frames in a row and
    stops after ``hangover_frames`` quiet ones, so pauses between words do not flap."""

    def __init__(
        self, threshold_dbfs: float = -40.0, attack_frames: int = 2, hangover_frames: int = 25
    ) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.attack_frames = attack_frames
        self.hangover_frames = hangover_frames
        self.speaking = False
        self._loud = 0
        self._quiet = 0

    def feed(self, level_dbfs: float) -> str | None:
        """``"started"``, ``"stopped"`` or None for one frame's level."""
        if level_dbfs >= self.threshold_dbfs:
            self._loud += 1
            self._quiet = 0
            if not self.speaking and self._loud >= self.attack_frames:
                self.speaking = True
                return "started"
            return None
        self._loud = 0
        self._quiet += 1
        if self.speaking and self._quiet >= self.hangover_frames:
            self.speaking = False
            return "stopped"
        return None


_ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
_COLS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)


def _goertzel_matrix() -> np.ndarray:
    """Cosine rows then sine rows for the eight frequencies (a DFT at each, in real maths)."""
    n = np.arange(FRAME_SAMPLES)
    phase = 2 * np.pi * np.array(_ROWS_HZ + _COLS_HZ)[:, np.newaxis] * n / TELEPHONY_RATE_HZ
    return np.vstack([np.cos(phase), np.sin(phase)])


class DtmfSuppressor:
    """Finds in-band DTMF (one row tone plus one column tone, ITU-T Q.23) in a 20 ms frame.

    Carriers deliver keys as events (RFC 4733 telephone-event packets are never decoded as
    audio), but a peer that also plays the tones in-band would beep into the mix: such frames
    are found here and silenced, with ``tail_frames`` after the last one for the tone's end.
    """

    #: Share of the frame's energy that the best row and column tones must hold together.
    MIN_PAIR_SHARE = 0.7
    #: Share each of the two must hold (twist: neither tone more than ~6 dB under the other).
    MIN_TONE_SHARE = 0.15
    MIN_LEVEL_DBFS = -45.0

    def __init__(self, tail_frames: int = 2) -> None:
        self._basis = _goertzel_matrix()
        self._min_energy = FRAME_SAMPLES * 32768.0**2 * 10 ** (self.MIN_LEVEL_DBFS / 10)
        self.tail_frames = tail_frames
        self._tail = 0

    def is_dtmf(self, frame: bytes) -> bool:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        found = self._pair(samples)
        if found:
            self._tail = self.tail_frames
            return True
        if self._tail:
            self._tail -= 1
            return True
        return False

    def _pair(self, samples: np.ndarray) -> bool:
        energy = float(np.dot(samples, samples))
        if energy < self._min_energy:
            return False
        projection = self._basis @ samples
        shares = 2.0 * (projection[:8] ** 2 + projection[8:] ** 2) / (FRAME_SAMPLES * energy)
        row, col = float(shares[:4].max()), float(shares[4:].max())
        return row + col >= self.MIN_PAIR_SHARE and min(row, col) >= self.MIN_TONE_SHARE


def beep_frames(hz: float = 1000.0, ms: int = 200, dbfs: float = -16.0) -> list[bytes]:
    """A short sine tone as 20 ms frames (played to a room when someone enters)."""
    count = TELEPHONY_RATE_HZ * ms // 1000
    t = np.arange(count) / TELEPHONY_RATE_HZ
    amplitude = 32767.0 * 10 ** (dbfs / 20)
    ramp = np.minimum(1.0, np.minimum(np.arange(count), count - 1 - np.arange(count)) / 40.0)
    tone = (amplitude * ramp * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()
    return [
        tone[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        for i in range(0, len(tone), FRAME_BYTES)
    ]
