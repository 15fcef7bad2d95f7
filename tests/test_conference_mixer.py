"""The conference arithmetic: mix-minus, clipping once, mute, jitter buffer, speaking, DTMF."""

from __future__ import annotations

import numpy as np
import pytest

from robot.carriers.sip import g711
from robot.carriers.sip.sdp import PCMA, PCMU
from robot.control.mixer import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SILENT_FRAME,
    DtmfSuppressor,
    MemberBuffer,
    SpeakingDetector,
    beep_frames,
    frame_dbfs,
    mix_minus,
)

RATE = 8000


def _rows(*values: int) -> np.ndarray:
    return np.array([[v] * FRAME_SAMPLES for v in values], dtype=np.int16)


def _tone(hz: float, samples: int = FRAME_SAMPLES, level: float = 0.3) -> np.ndarray:
    t = np.arange(samples) / RATE
    return (level * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def test_each_member_hears_the_sum_of_the_others() -> None:
    frames = _rows(100, 20, -3, 7000)
    each, total = mix_minus(frames, np.ones(4, dtype=bool))
    assert each[:, 0].tolist() == [7017, 7097, 7120, 117]
    assert total[0] == 7117
    assert each.dtype == np.int16 and each.shape == (4, FRAME_SAMPLES)


def test_the_sum_is_clipped_once_not_per_addition() -> None:
    # Clipping after each addition would give the last member clip(30000 + 30000) - 30000 =
    # 2767; a wide sum clipped once gives the true 30000.
    frames = _rows(30000, 30000, -30000, 0)
    each, total = mix_minus(frames, np.ones(4, dtype=bool))
    assert each[3, 0] == 30000
    assert each[2, 0] == 32767 and each[0, 0] == 0
    loud = _rows(-30000, -30000, -30000)
    each, total = mix_minus(loud, np.ones(3, dtype=bool))
    assert each[0, 0] == -32768 and total[0] == -32768


def test_muted_member_is_mixed_out_but_still_hears_the_others() -> None:
    frames = _rows(1000, 200, 30)
    heard = np.array([False, True, True])
    each, total = mix_minus(frames, heard)
    assert each[:, 0].tolist() == [230, 30, 200]
    assert total[0] == 230
    assert frames[0, 0] == 1000  # the input is not changed


def test_g711_legs_of_both_laws_mix_in_linear_pcm() -> None:
    a, b = _tone(400), _tone(1000)
    via_pcmu = np.frombuffer(g711.decode(g711.encode(a.tobytes(), PCMU), PCMU), dtype="<i2")
    via_pcma = np.frombuffer(g711.decode(g711.encode(b.tobytes(), PCMA), PCMA), dtype="<i2")
    frames = np.vstack([via_pcmu, via_pcma, np.zeros(FRAME_SAMPLES, dtype=np.int16)])
    each, _ = mix_minus(frames, np.ones(3, dtype=bool))
    spectrum = np.abs(np.fft.rfft(each[2].astype(np.float64)))
    bins = {hz: spectrum[hz * FRAME_SAMPLES // RATE] for hz in (400, 1000)}
    assert 20 * np.log10(bins[400] / bins[1000]) == pytest.approx(0.0, abs=0.5)


def test_buffer_primes_to_its_depth_and_cuts_any_length_into_frames() -> None:
    buffer = MemberBuffer(depth_frames=2, max_frames=4)
    first, second = b"\x01\x00" * FRAME_SAMPLES, b"\x02\x00" * FRAME_SAMPLES
    buffer.push(first[:100])
    assert len(buffer) == 0 and buffer.pop() == SILENT_FRAME
    buffer.push(first[100:] + second[:10])
    assert len(buffer) == 1 and buffer.pop() == SILENT_FRAME  # not yet 40 ms held
    buffer.push(second[10:])
    assert buffer.pop() == first and buffer.pop() == second
    assert buffer.pop() == SILENT_FRAME and buffer.underruns == 1


def test_buffer_drops_the_oldest_frames_beyond_its_limit() -> None:
    buffer = MemberBuffer(depth_frames=1, max_frames=3)
    frames = [bytes([n, 0]) * FRAME_SAMPLES for n in range(1, 6)]
    buffer.push(b"".join(frames))
    assert buffer.overflows == 2 and len(buffer) == 3
    assert buffer.pop() == frames[2]


@pytest.mark.parametrize(("low", "high"), [(697, 1209), (770, 1336), (941, 1477), (852, 1633)])
def test_inband_dtmf_is_found_and_single_tones_are_not(low: int, high: int) -> None:
    pair = (_tone(low, level=0.2).astype(np.int32) + _tone(high, level=0.15)).astype(np.int16)
    assert DtmfSuppressor(tail_frames=0).is_dtmf(pair.tobytes())
    for hz in (400, 700, 1000, 1300):
        assert not DtmfSuppressor(tail_frames=0).is_dtmf(_tone(hz).tobytes())
    noise = np.random.default_rng(3).normal(0, 3000, FRAME_SAMPLES).astype(np.int16)
    assert not DtmfSuppressor(tail_frames=0).is_dtmf(noise.tobytes())
    assert not DtmfSuppressor(tail_frames=0).is_dtmf(SILENT_FRAME)


def test_buffer_silences_a_key_tone_its_onset_and_its_tail() -> None:
    buffer = MemberBuffer(depth_frames=1, max_frames=20)
    speech = _tone(300).tobytes()
    key = (_tone(770, level=0.2).astype(np.int32) + _tone(1336, level=0.2)).astype(np.int16)
    buffer.push(speech)
    buffer.push(speech)  # the key's onset, say: still queued when the key is found
    buffer.push(key.tobytes() * 3)
    for _ in range(4):
        buffer.push(speech)
    out = [buffer.pop() for _ in range(9)]
    assert out[0] == speech
    assert out[1:7] == [SILENT_FRAME] * 6  # onset, 3 key frames, 2 tail frames
    assert out[7] == speech and out[8] == speech
    assert buffer.dtmf_frames == 5


def test_speaking_starts_after_attack_and_stops_after_hangover() -> None:
    detector = SpeakingDetector(threshold_dbfs=-40, attack_frames=2, hangover_frames=3)
    loud, quiet = -20.0, -70.0
    changes = [detector.feed(level) for level in [loud, quiet, loud, loud, loud, quiet, quiet]]
    assert changes == [None, None, None, "started", None, None, None]
    assert detector.feed(loud) is None  # a pause shorter than the hangover does not flap
    assert [detector.feed(quiet) for _ in range(3)] == [None, None, "stopped"]


def test_levels_and_beep() -> None:
    assert frame_dbfs(np.zeros(FRAME_SAMPLES, dtype=np.int16)) == -100.0
    full = np.full(FRAME_SAMPLES, 32767, dtype=np.int16)
    assert frame_dbfs(full) == pytest.approx(0.0, abs=0.01)
    beep = beep_frames(ms=200)
    assert len(beep) == 10 and all(len(f) == FRAME_BYTES for f in beep)
    middle = np.frombuffer(beep[5], dtype="<i2")
    assert frame_dbfs(middle) == pytest.approx(-19.0, abs=0.5)  # -16 dBFS peak: -19 dB RMS
